#!/usr/bin/env bash
# Load benchmark of the basic call with SIPp on loopback.
#
#   scripts/bench/load.sh [RATE] [CALLS] [CONCURRENT] [HOLD_SECONDS]
#
# Phase 1, calls per second: a SIPp UAC calls 12345 at RATE calls per second, CALLS calls
# in all, each answered by a SIPp UAS behind the service (a trunk with unlimited channels)
# and hung up after 100 ms. Reports completed and failed calls and the service's CPU.
# Phase 2, concurrent relayed calls: CONCURRENT calls, each streaming A-law RTP at 50
# packets per second to the service, which relays it to the UAS, held for HOLD_SECONDS.
# Reports the service's CPU and resident memory at full load and per call, and RTP packets
# received and relayed by the service. Every call is recorded (two WAV files each) unless
# RECORD=false is set; the recordings' count and size are reported at the end.
set -euo pipefail
RATE=${1:-500}
CALLS=${2:-10000}
CONCURRENT=${3:-500}
HOLD=${4:-30}

cd "$(dirname "$0")/../.."
ROOT=$PWD
cargo build --release --quiet
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/hotline-bridge

WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

SIP=25060 UAS=25070 UAC=25080
mkdir -p "$WORK/profiles"
cat > "$WORK/hb.toml" <<TOML
[sip]
listen = "127.0.0.1:$SIP"
profiles = "$WORK/profiles"
[http]
listen = "127.0.0.1:25081"
[media]
address = "127.0.0.1"
rtp_port_min = 30000
rtp_port_max = 49999
rtp_timeout_secs = 3600
[database]
url = "sqlite://$WORK/db"
[recordings]
dir = "$WORK/rec"
enabled = ${RECORD:-true}
[[hotline]]
name = "12345"
numbers = ["12345"]
trunk = "bench-seats"

[[hotline]]
name = "110"
numbers = ["110"]
trunk = "bench-seats"
TOML
cat > "$WORK/profiles/trunks.toml" <<TOML
[[trunk]]
name = "pbx"
sources = ["127.0.0.1"]
[[trunk]]
name = "bench-seats"
uri = "sip:seat@127.0.0.1:$UAS"
channels = 100000
TOML
echo > "$WORK/profiles/seats.toml"

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
RUST_LOG=warn,hotline_bridge::server=info "$BIN" --config "$WORK/hb.toml" 2> "$WORK/service.log" &
SVC=$!; PIDS+=($SVC)
sleep 1
if ! kill -0 $SVC 2>/dev/null; then cat "$WORK/service.log"; exit 1; fi
sipp -sn uas -i 127.0.0.1 -mi 127.0.0.1 -p $UAS -mp 50000 -nostdin -buff_size 1048576 \
     -max_socket 65000 -bg > /dev/null 2>&1 || true
sleep 1
UAS_PID=$(pgrep -f "sipp -sn uas -i 127.0.0.1 -mi 127.0.0.1 -p $UAS" | head -1)
PIDS+=($UAS_PID)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$SVC/stat"; }
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$SVC/status"; }
HZ=$(getconf CLK_TCK)

echo "== phase 1: $CALLS calls at $RATE calls/s"
T0=$(cpu_ticks); S0=$(date +%s.%N)
sipp -sn uac 127.0.0.1:$SIP -s 12345 -i 127.0.0.1 -mi 127.0.0.1 -p $UAC -mp 51000 \
     -r "$RATE" -m "$CALLS" -d 100 -nostdin -buff_size 1048576 -timeout 300s \
     -trace_stat -stf "$WORK/uac.csv" > /dev/null 2>&1 || true
S1=$(date +%s.%N); T1=$(cpu_ticks)
LAST=$(tail -1 "$WORK/uac.csv")
SUCCESS=$(echo "$LAST" | awk -F';' '{print $16}')
FAILED=$(echo "$LAST" | awk -F';' '{print $18}')
ELAPSED=$(echo "$S1 - $S0" | bc)
echo "completed calls: $SUCCESS   failed: $FAILED   elapsed: ${ELAPSED}s"
echo "achieved rate: $(echo "scale=0; $SUCCESS / $ELAPSED" | bc) calls/s"
echo "service CPU: $(echo "scale=2; ($T1 - $T0) / $HZ" | bc) s over ${ELAPSED}s ($(echo "scale=1; 100 * ($T1 - $T0) / $HZ / $ELAPSED" | bc) % of one core)"

echo "== phase 2: $CONCURRENT concurrent calls with RTP, held ${HOLD}s"
head -c 8000 /dev/zero | tr '\0' '\325' > "$WORK/silence.alaw"
RSS0=$(rss_kib)
RAMP=$(( CONCURRENT / 10 > 0 ? CONCURRENT / 10 : 1 ))
(cd "$WORK" && exec sipp -sf "$ROOT/scripts/bench/uac_rtp.xml" 127.0.0.1:$SIP -s 12345 -i 127.0.0.1 -mi 127.0.0.1 \
     -p $((UAC + 1)) -mp 52000 -r $RAMP -m "$CONCURRENT" -l "$CONCURRENT" \
     -d $(( (HOLD + 20) * 1000 )) \
     -nostdin -buff_size 1048576 -timeout 600s > /dev/null 2>&1) &
UAC_RTP=$!; PIDS+=($UAC_RTP)
sleep 15
T0=$(cpu_ticks); S0=$(date +%s.%N)
SNMP0=$(awk '/^Udp:/ {n++} /^Udp:/ && n==2 {print $6}' /proc/net/snmp)
sleep "$HOLD"
T1=$(cpu_ticks); S1=$(date +%s.%N)
SNMP1=$(awk '/^Udp:/ {n++} /^Udp:/ && n==2 {print $6}' /proc/net/snmp)
# Drops counted on the service's own RTP sockets (local ports 30000-49999).
DROPS=$(python3 -c "
rows = open('/proc/net/udp').read().splitlines()[1:]
print(sum(int(r.split()[-1]) for r in rows if 30000 <= int(r.split()[1].split(':')[1], 16) <= 49999))")
RSS1=$(rss_kib)
ELAPSED=$(echo "$S1 - $S0" | bc)
echo "service CPU at full load: $(echo "scale=1; 100 * ($T1 - $T0) / $HZ / $ELAPSED" | bc) % of one core"
echo "service RSS: idle ${RSS0} KiB, loaded ${RSS1} KiB, $(echo "scale=1; ($RSS1 - $RSS0) / $CONCURRENT" | bc) KiB per call"
echo "receive-buffer drops on the service's RTP sockets: $DROPS (all sockets on the machine: $((SNMP1 - SNMP0)), mostly the load generator's, which never reads)"
echo "recordings: $(find "$WORK/rec" -name '*.wav' 2>/dev/null | wc -l) files, $(du -sh "$WORK/rec" 2>/dev/null | cut -f1) (recording ${RECORD:-true})"
wait $UAC_RTP || true
kill -TERM $SVC
wait $SVC 2>/dev/null || true
grep "RTP packets since start" "$WORK/service.log" | sed 's/.*RTP packets/RTP packets/' ||
  { echo "the service logged no RTP totals; the end of its log:"; tail -5 "$WORK/service.log"; }
# What the recordings missed, from the handoff log: audio the writer could not keep up with
# (lost_ms in recording_saved) and recordings that ended in an error.
python3 -c "
import json, sqlite3
db = sqlite3.connect('$WORK/db')
saved = [json.loads(d) for (d,) in db.execute(\"SELECT details FROM handoff_events WHERE event = 'recording_saved'\")]
failed = db.execute(\"SELECT count(*) FROM handoff_events WHERE event = 'recording_failed'\").fetchone()[0]
lost = [s.get('lost_ms', 0) for s in saved]
print(f'recordings saved: {len(saved)}, failed: {failed}, with audio lost: {sum(1 for l in lost if l)}, audio lost in all: {sum(lost)} ms')
"
