#!/usr/bin/env bash
# Runs the whole test suite twice: once with each service under test on SQLite, once on a
# real PostgreSQL server started here on loopback. Unit tests cover the sans-IO core; the
# interop tests drive real SIP peers (SIPp, baresip) and the auditor's page runs in headless
# Chromium. Installs the peers, Chromium and PostgreSQL from Debian's packages when they are
# missing (needs root or sudo; the full-disk recording test mounts a small tmpfs as root).
set -euo pipefail
cd "$(dirname "$0")/.."

sudo_cmd=""
[ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
need=()
command -v sipp >/dev/null || need+=(sip-tester)
command -v baresip >/dev/null || need+=(baresip-core)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v chromium >/dev/null || need_browser=1
apt_get="$sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get"
if [ ${#need[@]} -gt 0 ] || [ -n "${need_browser:-}" ]; then
  $apt_get update -qq
  if [ ${#need[@]} -gt 0 ]; then
    $apt_get install -y -qq --no-install-recommends "${need[@]}"
  fi
  # The auditor's page is tested in headless Chromium (with the fonts it recommends).
  if [ -n "${need_browser:-}" ]; then
    $apt_get install -y -qq chromium
  fi
fi

echo "== the suite on SQLite"
cargo test --locked --all-targets "$@"

echo "== the suite on PostgreSQL"
read -r pg_dir pg_url < <(scripts/postgres.sh)
trap 'scripts/postgres.sh stop "$pg_dir"' EXIT
HOTLINE_TEST_POSTGRES="$pg_url" cargo test --locked --tests "$@"
