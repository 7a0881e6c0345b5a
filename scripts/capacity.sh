#!/usr/bin/env bash
# Capacity benchmark: the host and the load generator on this machine, one
# fresh host per level, every level's report kept (docs/performance.md,
# "Capacity", says how to read them).
#
#   scripts/capacity.sh            # VAD on, no STT: 10 → 100 → 500 → 1000 → 2000 calls
#   scripts/capacity.sh stt        # STT on: 100 calls, 1 → 2 → 4 → 6 → 8 of them speaking
#
# Settings (environment):
#   LEVELS="10 100 500 1000 2000"  concurrent calls per level (vad)
#   DURATION=30                    seconds every level holds all its calls (stt: 60)
#   RAMP=200                       calls started per second
#   SPEAKING=1.0                   share of callers playing speech (vad); the rest are silent
#   STT_CALLS=100 SPEAKERS="1 2 4 6 8"      (stt)
#   STRATEGY=beam HANGOVER_MS=500           whisper decoding and end-of-turn hangover (stt)
#   OUT=target/capacity/<mode>-<time>       where reports, host logs and the table go
#   NO_BUILD=1                     skip `cargo build --release --workspace`
#   QUIET_WAIT=0                   seconds to wait, before each level, for other
#                                  processes to leave the CPU (idle ≥ 85 %); 0: do not wait
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

MODE=${1:-vad}
case "$MODE" in
vad | stt) ;;
*)
    echo "usage: $0 [vad|stt]" >&2
    exit 2
    ;;
esac

RAMP=${RAMP:-200}
OUT=${OUT:-target/capacity/$MODE-$(date +%Y%m%d-%H%M%S)}
AUTH_TOKEN=capacity-twilio-auth-token
ADMIN_TOKEN=admin-capacity-0123456789abcdef
PUBLIC_URL=https://voice.capacity.test
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

if [ "${NO_BUILD:-}" != 1 ]; then
    cargo build --release --workspace >&2
fi
BIN=$ROOT/target/release
LOADGEN=$BIN/voicegate-loadgen

# Every call is a socket on each side (plus the webhook's); 2,000 calls
# need more descriptors than the usual 1,024.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
echo "open files: $(ulimit -n)" >&2

{
    echo "date: $(date -u +%FT%TZ)"
    echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') x $(nproc)"
    echo "memory: $(grep MemTotal /proc/meminfo | awk '{print $2 / 1024 / 1024 " GiB"}')"
    echo "kernel: $(uname -r)"
} >"$OUT/machine.txt"

write_config() { # $1 = file, $2 = max_calls
    local stt=""
    if [ "$MODE" = stt ]; then
        stt="
[pipeline.turn]
hangover_ms = ${HANGOVER_MS:-500}

[stt.whisper]
plugin = \"whisper\"
model = \"$ROOT/models/ggml-tiny.en.bin\"
strategy = \"${STRATEGY:-beam}\"
"
    fi
    cat >"$1" <<EOF
# Written by scripts/capacity.sh.
[server]
public_url = "$PUBLIC_URL"
plugin_dir = "$BIN"

[admin]
token = "$ADMIN_TOKEN"

[log]
level = "info"

[limits]
max_calls = $2

[transports.twilio]
plugin = "twilio"
auth_token = "$AUTH_TOKEN"

# Load-test numbers are exempt from the per-caller rate limit.
[policies.default]
plugin = "policy"
rate_limit_exempt = ["+1500555*"]

[audit]
path = "$OUT/audit.db"
$stt
EOF
}

HOST_PID=""
stop_host() {
    if [ -n "$HOST_PID" ] && kill -0 "$HOST_PID" 2>/dev/null; then
        kill -TERM "$HOST_PID"
        for _ in $(seq 1 100); do
            kill -0 "$HOST_PID" 2>/dev/null || break
            sleep 0.2
        done
        kill -KILL "$HOST_PID" 2>/dev/null || true
    fi
    HOST_PID=""
}
trap stop_host EXIT

start_host() { # $1 = name; sets HOST_PID and BASE
    local name=$1
    rm -f "$OUT/audit.db" "$OUT/audit.db-wal" "$OUT/audit.db-shm"
    "$BIN/voicegate" serve --config "$OUT/config.toml" --listen 127.0.0.1:0 \
        >"$OUT/host-$name.out" 2>"$OUT/host-$name.log" &
    HOST_PID=$!
    local addr=""
    for _ in $(seq 1 300); do
        addr=$(sed -n 's/^voicegate listening on //p' "$OUT/host-$name.out")
        [ -n "$addr" ] && break
        kill -0 "$HOST_PID" 2>/dev/null || break
        sleep 0.2
    done
    if [ -z "$addr" ]; then
        echo "the host did not start; its log:" >&2
        cat "$OUT/host-$name.log" >&2
        exit 1
    fi
    BASE="http://$addr"
}

# Share of the machine busy over 3 s, percent.
machine_busy() {
    local a b
    read -r -a a < <(head -1 /proc/stat)
    sleep 3
    read -r -a b < <(head -1 /proc/stat)
    local total=0 i
    for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
    local idle=$((b[4] - a[4] + b[5] - a[5]))
    echo $((total > 0 ? 100 * (total - idle) / total : 0))
}

# Measurements are only as good as the machine is quiet: wait (bounded)
# for other work to finish. The report still records what else ran.
wait_quiet() {
    local limit=${QUIET_WAIT:-0} waited=0 busy
    [ "$limit" -gt 0 ] || return 0
    while busy=$(machine_busy) && [ "$busy" -gt 15 ]; do
        if [ "$waited" -ge "$limit" ]; then
            echo "machine still ${busy} % busy after ${waited} s; measuring anyway" >&2
            return 0
        fi
        sleep 7
        waited=$((waited + 10))
    done
}

run_level() { # $1 = name, then loadgen arguments
    local name=$1
    shift
    wait_quiet
    start_host "$name"
    {
        echo "== $name: $(uptime)"
        top -bn1 | sed -n '7,12p'
    } >"$OUT/$name.txt"
    echo "== $name (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    VOICEGATE_LOADGEN_AUTH_TOKEN=$AUTH_TOKEN "$LOADGEN" run \
        --base "$BASE" --public-url "$PUBLIC_URL" \
        --host-pid "$HOST_PID" --json "$OUT/$name.json" "$@" | tee -a "$OUT/$name.txt" >&2
    stop_host
}

if [ "$MODE" = vad ]; then
    LEVELS=${LEVELS:-10 100 500 1000 2000}
    max=0
    for n in $LEVELS; do [ "$n" -gt "$max" ] && max=$n; done
    # Admission must not refuse any call here (load_smoke tests busy).
    write_config "$OUT/config.toml" $((max + 100))
    reports=()
    for n in $LEVELS; do
        name=$(printf 'vad-%05d' "$n")
        run_level "$name" --calls "$n" --duration "${DURATION:-30}" \
            --ramp-per-sec "$RAMP" --speaking "${SPEAKING:-1.0}"
        reports+=("$OUT/$name.json")
    done
    "$LOADGEN" table "${reports[@]}" >"$OUT/table.md"
else
    CALLS=${STT_CALLS:-100}
    write_config "$OUT/config.toml" $((CALLS + 100))
    reports=()
    for k in ${SPEAKERS:-1 2 4 6 8}; do
        name=$(printf 'stt-%03d' "$k")
        run_level "$name" --calls "$CALLS" --speaking-calls "$k" \
            --duration "${DURATION:-60}" --ramp-per-sec "$RAMP" \
            --admin-token "$ADMIN_TOKEN"
        reports+=("$OUT/$name.json")
    done
    "$LOADGEN" table --stt "${reports[@]}" >"$OUT/table.md"
fi

cat "$OUT/table.md"
echo "reports, host logs and machine.txt: $OUT" >&2
