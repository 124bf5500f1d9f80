#!/usr/bin/env bash
# Runs the whole test suite: unit tests of the sans-IO core and the interop tests against
# real SIP peers (SIPp, baresip) on loopback. Installs the peers from Debian's packages if
# they are missing (needs root or sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v sipp >/dev/null || need+=(sip-tester)
command -v baresip >/dev/null || need+=(baresip-core)
if [ ${#need[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

cargo test --locked --all-targets "$@"
