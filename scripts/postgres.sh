#!/usr/bin/env bash
# Starts a throw-away PostgreSQL server on loopback for the tests, from Debian's
# `postgresql` package (installed when missing), and prints its URL. Stop it with
#   scripts/postgres.sh stop DIR
set -euo pipefail

if [ "${1:-}" = "stop" ]; then
  dir=$2
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  su postgres -c "$bin/pg_ctl -D $dir/data -m fast -w stop" >/dev/null 2>&1 || true
  rm -rf "$dir"
  exit 0
fi

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
dir=$(mktemp -d /tmp/hotline-pg.XXXXXX)
chown postgres "$dir"
su postgres -c "$bin/initdb -D $dir/data -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null"
su postgres -c "$bin/pg_ctl -D $dir/data -l $dir/log -w -o \"-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off\" start" >/dev/null
echo "$dir postgres://postgres@127.0.0.1:$port/postgres"
