#!/usr/bin/env bash
# Plans of many algorithms in one monorepo (algos/aN/ folders, a shared libs/common included by
# every 10th), against an emulator that adds LATENCY ms to every /v1 answer, with
# --parallelism 16. Reports side by side, in one run, the wall time of `algodeploy plan` in four
# states — all new, converged, one folder changed, the shared folder changed — against the
# latency floor ceil(N/16) x LATENCY, algodeploy's peak RSS, and the official Python client
# (algorithmia 2.0.5) doing the same reads one by one.
# Usage: benches/monorepo-plan.sh [N] [LATENCY_MS]   (release build; needs .ci/python-setup)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-500}
latency=${2:-20}
cargo build --release --quiet
bin="$PWD/target/release/algodeploy"
venv="$PWD/target/venvs/algorithmia/bin/python"
work=$(mktemp -d)
key=simBenchKey000000000000000001
start_emulator() { # extra flags...
    "$bin" emulator --listen 127.0.0.1:0 --data-dir "$work/data" --key "demo=$key" --admin-token x \
        --build-seconds 0 "$@" >"$work/out" 2>/dev/null &
    pid=$!
    for _ in $(seq 200); do grep -q listening "$work/out" 2>/dev/null && break; sleep 0.05; done
    url=$(sed -n 's/^listening on //p' "$work/out")
}
trap 'kill $pid 2>/dev/null; [ -n "${BENCH_KEEP:-}" ] || rm -rf "$work"' EXIT
start_emulator
echo "setting up $n algorithms in folders (algodeploy apply --push)..." >&2
python3 - "$n" "$work/repo" "$PWD/examples" <<'PY'
import os, subprocess, sys
n, repo, examples = int(sys.argv[1]), sys.argv[2], sys.argv[3]
manifest = open(os.path.join(examples, "algorithm.yaml")).read()
manifest = manifest.replace("  sample_input: Ada\n", "").replace("  sample_output: Hello, Ada!\n", "")
# The layout teams use: algos/aN/{algorithm.yaml, src/aN.py, requirements.txt}, and a shared
# libs/common that every 10th algorithm includes.
os.makedirs(os.path.join(repo, "libs", "common"))
open(os.path.join(repo, "libs", "common", "greet.py"), "w").write("G = 'Hello'\n")
for i in range(n):
    folder = os.path.join(repo, "algos", f"a{i}")
    os.makedirs(os.path.join(folder, "src"))
    text = manifest.replace("name: hello_world", f"name: a{i}")
    if i % 10 == 0:
        text += "repository:\n  include:\n    - from: ../../libs/common\n      to: libs/common\n"
    open(os.path.join(folder, "algorithm.yaml"), "w").write(text)
    open(os.path.join(folder, "src", f"a{i}.py"), "w").write("def apply(input):\n    return input\n")
    open(os.path.join(folder, "requirements.txt"), "w").write("")
env = dict(os.environ, GIT_CONFIG_GLOBAL="/dev/null", GIT_TERMINAL_PROMPT="0")
git = lambda *a: subprocess.run(["git", *a], cwd=repo, env=env, check=True, capture_output=True)
git("init", "-q", "-b", "main"); git("add", "-A")
git("-c", "user.name=b", "-c", "user.email=b@example.com", "commit", "-qm", "monorepo")
PY
cd "$work/repo"
export ALGORITHMIA_API_KEY=$key GIT_CONFIG_GLOBAL=/dev/null
commit() { git add -A && git -c user.name=b -c user.email=b@example.com commit -qm "$1"; }
# One plan, best wall time and its RSS of three: prints "seconds rss".
measure() {
    local best="" best_rss=""
    for _ in 1 2 3; do
        /usr/bin/time -f "%e %M" -o "$work/time" "$bin" plan algos --parallelism 16 >"$work/plan" 2>&1 || true
        read -r wall rss < <(tail -1 "$work/time")
        if [ -z "$best" ] || awk -v a="$wall" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$wall; best_rss=$rss; fi
    done
    echo "$best $best_rss"
}
# All new: a plan against the empty emulator, with latency.
kill $pid; wait $pid 2>/dev/null || true
start_emulator --latency "$latency"
export ALGORITHMIA_API=$url
read -r new_wall new_rss < <(measure)
kill $pid; wait $pid 2>/dev/null || true
rm -rf "$work/data"
start_emulator
export ALGORITHMIA_API=$url
"$bin" apply algos --yes --push --parallelism 16 >/dev/null 2>"$work/apply" || { tail -5 "$work/apply" >&2; exit 1; }
kill $pid; wait $pid 2>/dev/null || true
[ -n "${BENCH_KEEP:-}" ] && echo "kept: $work" >&2
start_emulator --latency "$latency"
export ALGORITHMIA_API=$url
read -r converged_wall converged_rss < <(measure)
tail -1 "$work/plan" >&2
echo "# one more" >>algos/a1/src/a1.py; commit "one folder"
read -r one_wall one_rss < <(measure)
echo "G = 'Hi'" >libs/common/greet.py; commit "shared folder"
read -r shared_wall shared_rss < <(measure)
grep -c "bump semantic_version" "$work/plan" >&2 || true
best=$converged_wall; best_rss=$converged_rss
python_time=$("$venv" - "$url" "$key" "$n" <<'PY'
import sys, time, Algorithmia
url, key, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
client = Algorithmia.client(key, url)
started = time.time()
for i in range(n):
    algo = client.algo(f"demo/a{i}")
    client.getJsonHelper(f"/v1/algorithms/demo/a{i}")
    algo.versions(published=True)
    algo.get_builds()
print(f"{time.time() - started:.2f}")
PY
)
awk -v n="$n" -v l="$latency" -v p="$python_time" \
    -v a="$new_wall" -v ar="$new_rss" -v b="$converged_wall" -v br="$converged_rss" \
    -v c="$one_wall" -v cr="$one_rss" -v d="$shared_wall" -v dr="$shared_rss" 'BEGIN {
    floor = int((n + 15) / 16) * l / 1000
    printf "%-40s %10s %10s %10s\n", "plan of " n " folders", "seconds", "x floor", "peak RSS"
    printf "%-40s %10.2f %10s %10s\n", "latency floor", floor, "1.00", ""
    printf "%-40s %10.2f %10.2f %8d MB\n", "all new (first plan)", a, a / floor, ar / 1024
    printf "%-40s %10.2f %10.2f %8d MB\n", "converged", b, b / floor, br / 1024
    printf "%-40s %10.2f %10.2f %8d MB\n", "one folder changed", c, c / floor, cr / 1024
    printf "%-40s %10.2f %10.2f %8d MB\n", "shared folder changed (1 in 10 include it)", d, d / floor, dr / 1024
    printf "%-40s %10.2f %10.2f %10s\n", "official client, one by one", p, p / floor, ""
}'
