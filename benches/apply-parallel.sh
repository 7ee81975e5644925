#!/usr/bin/env bash
# Apply in parallel, and one algorithm's apply beyond its build. Against an emulator whose builds
# take BUILD seconds and whose /v1 answers are delayed LATENCY ms, in one run:
#   - one algorithm, created (create, push, build, smoke test, publish), then updated (a code
#     change and a bump: update, push, build, test, publish): wall time, and the time beyond
#     its build;
#   - N folders at --parallelism 16, against ceil(N/16) x the one-algorithm create measured here.
# Usage: benches/apply-parallel.sh [N] [BUILD_SECONDS] [LATENCY_MS]   (release build)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-48}
build=${2:-2}
latency=${3:-50}
cargo build --release --quiet
bin="$PWD/target/release/algodeploy"
work=$(mktemp -d)
key=simBenchKey000000000000000001
"$bin" emulator --listen 127.0.0.1:0 --data-dir "$work/data" --key "demo=$key" --admin-token x \
    --build-seconds "$build" --latency "$latency" >"$work/out" 2>/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 200); do grep -q listening "$work/out" 2>/dev/null && break; sleep 0.05; done
url=$(sed -n 's/^listening on //p' "$work/out")
manifest=$(cat examples/algorithm.yaml)
mkdir -p "$work/repo" && cd "$work/repo"
for name in solo $(seq -f "a%g" 1 "$n"); do
    mkdir -p "algos/$name/src"
    printf '%s\n' "${manifest//name: hello_world/name: $name}" >"algos/$name/algorithm.yaml"
    printf 'def apply(input):\n    return f"Hello, {input}!"\n' >"algos/$name/src/$name.py"
    : >"algos/$name/requirements.txt"
done
export GIT_CONFIG_GLOBAL=/dev/null ALGORITHMIA_API=$url ALGORITHMIA_API_KEY=$key
commit() { git add -A && git -c user.name=b -c user.email=b@example.com commit -qm "$1"; }
git init -q -b main && commit "monorepo"
seconds() { # command... → wall seconds
    local start end
    start=$(date +%s.%N)
    "$@" >/dev/null 2>"$work/err" || { tail -5 "$work/err" >&2; exit 1; }
    end=$(date +%s.%N)
    awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }'
}
create=$(seconds "$bin" apply algos/solo --yes --push)
sed -i 's/semantic_version: 1.0.0/semantic_version: 1.0.1/' algos/solo/algorithm.yaml
printf '\n# changed\n' >>algos/solo/src/solo.py
commit "solo 1.0.1"
update=$(seconds "$bin" apply algos/solo --yes --push)
many=$(seconds "$bin" apply algos --yes --push --parallelism 16)
awk -v n="$n" -v b="$build" -v l="$latency" -v c="$create" -v u="$update" -v m="$many" 'BEGIN {
    waves = int((n + 15) / 16)
    printf "builds %d s, latency %d ms\n", b, l
    printf "%-44s %8s %14s\n", "", "seconds", "beyond build"
    printf "%-44s %8.2f %14.2f\n", "one algorithm, created", c, c - b
    printf "%-44s %8.2f %14.2f\n", "one algorithm, updated (code change, bump)", u, u - b
    printf "%-44s %8.2f %14s\n", n " folders, --parallelism 16", m, ""
    printf "%-44s %8.2f %14s\n", "  floor: " waves " waves x one created", waves * c, ""
    printf "%-44s %8.2f\n", "  ratio", m / (waves * c)
}'
