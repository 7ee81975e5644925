#!/usr/bin/env bash
# How long `algodeploy emulator` takes from exec to printing `listening on ...` (it prints that
# once it accepts connections). Prints each run and the median, in milliseconds.
# Usage: benches/emulator-start.sh [RUNS]   (builds the release binary first)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
cargo build --release --quiet
bin=target/release/algodeploy
times=()
for _ in $(seq "$runs"); do
    dir=$(mktemp -d)
    start=$(date +%s%N)
    # `exec`: the coprocess is the emulator itself, so killing EMU_PID stops it (not a shell).
    coproc EMU { exec "$bin" emulator --listen 127.0.0.1:0 --data-dir "$dir" --key demo=simBenchKey000000000000000001 --admin-token x 2>/dev/null; }
    read -r line <&"${EMU[0]}"
    end=$(date +%s%N)
    kill "$EMU_PID"; wait "$EMU_PID" || true
    rm -rf "$dir"
    [[ $line == "listening on http://"* ]] || { echo "unexpected: $line"; exit 1; }
    times+=($(( (end - start) / 1000000 )))
done
sorted=($(printf '%s\n' "${times[@]}" | sort -n))
echo "runs (ms): ${times[*]}"
echo "median: ${sorted[$(( runs / 2 ))]} ms, max: ${sorted[-1]} ms (target: under 1000 ms)"
