#!/usr/bin/env bash
# How many API round trips a plan costs: runs `algodeploy plan` against an emulator that adds
# LATENCY ms to every /v1 answer, and reports the median wall time as a multiple of LATENCY.
# About 1x means the plan's reads went out concurrently; 3x would mean one after another.
# Usage: benches/plan-latency.sh [RUNS] [LATENCY_MS]   (builds the release binary first)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-15}
latency=${2:-50}
cargo build --release --quiet
bin="$PWD/target/release/algodeploy"
work=$(mktemp -d)
key=simBenchKey000000000000000001
"$bin" emulator --listen 127.0.0.1:0 --data-dir "$work/data" --key "demo=$key" --admin-token x --build-seconds 0 \
    --latency "$latency" >"$work/out" 2>/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do grep -q listening "$work/out" && break; sleep 0.05; done
export ALGORITHMIA_API=$(sed -n 's/^listening on //p' "$work/out") ALGORITHMIA_API_KEY=$key
mkdir "$work/repo"
cp -R examples/algorithm.yaml examples/requirements.txt examples/src "$work/repo/"
cd "$work/repo"
git init -q -b main && git add -A && git -c user.name=b -c user.email=b@example.com commit -qm b
"$bin" apply --yes --push >/dev/null 2>&1
times=()
for _ in $(seq "$runs"); do
    start=$(date +%s%N)
    "$bin" plan >/dev/null
    end=$(date +%s%N)
    times+=($(( (end - start) / 1000000 )))
done
sorted=($(printf '%s\n' "${times[@]}" | sort -n))
median=${sorted[$(( runs / 2 ))]}
echo "plan wall times (ms): ${times[*]}"
awk -v m="$median" -v l="$latency" 'BEGIN { printf "median %d ms with %d ms API latency: %.2fx the latency (sequential reads would be >= 3x)\n", m, l, m / l }'
