#!/usr/bin/env bash
# Plans of many algorithms in one repository (a monorepo), against an emulator that adds
# LATENCY ms to every /v1 answer, with --parallelism 16. Reports side by side, in one run: the
# wall time of `algodeploy plan` for N manifests (all deployed and converged, the usual case on a
# pull request), the latency floor ceil(N/16) x LATENCY, their ratio, algodeploy's peak RSS,
# and the official Python client (algorithmia 2.0.5) doing the same reads one by one.
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
echo "setting up $n algorithms (create, push, build, publish)..." >&2
python3 - "$url" "$key" "$n" "$work/repo" "$PWD/examples" <<'PY'
import json, os, subprocess, sys, time, urllib.request
url, key, n, repo, examples = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
manifest = open(os.path.join(examples, "algorithm.yaml")).read()
manifest = manifest.replace("  sample_input: Ada\n", "").replace("  sample_output: Hello, Ada!\n", "")
# Each algorithm's repository gets the whole monorepo pushed: entry points at the root.
os.makedirs(os.path.join(repo, "src"))
open(os.path.join(repo, "requirements.txt"), "w").write("")
for i in range(n):
    folder = os.path.join(repo, "algos", f"a{i}")
    os.makedirs(folder)
    open(os.path.join(folder, "algorithm.yaml"), "w").write(manifest.replace("name: hello_world", f"name: a{i}"))
    open(os.path.join(repo, "src", f"a{i}.py"), "w").write("def apply(input):\n    return input\n")
env = dict(os.environ, GIT_CONFIG_GLOBAL="/dev/null", GIT_TERMINAL_PROMPT="0")
git = lambda *a: subprocess.run(["git", *a], cwd=repo, env=env, check=True, capture_output=True)
git("init", "-q", "-b", "main"); git("add", "-A")
git("-c", "user.name=b", "-c", "user.email=b@example.com", "commit", "-qm", "monorepo")
def call(method, path, body=None):
    request = urllib.request.Request(url + path, method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"Authorization": "Simple " + key, "Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(request).read() or b"null")
host = url.split("://", 1)[1]
for i in range(n):
    call("POST", "/v1/algorithms/demo", {"name": f"a{i}", "details": {"label": "Hello World", "tagline": "Greets whoever calls it",
         "summary": "# Hello World\n\nReturns a greeting for the name it is given:\n`\"Ada\"` gives `\"Hello, Ada!\"`.\n"},
         "settings": {"license": "apache2", "source_visibility": "open", "network_access": "isolated", "pipeline_enabled": False,
                      "package_set": "python38", "royalty_microcredits": 0}})
    git("push", "-q", "--force", f"http://demo:{key}@{host}/git/demo/a{i}.git", "HEAD:master")
time.sleep(1)
for i in range(n):
    call("POST", f"/v1/algorithms/demo/a{i}/versions", {"settings": {"algorithm_callability": "public"}, "version_info": {"version_type": "major", "release_notes": "First release."}})
PY
kill $pid; wait $pid 2>/dev/null || true
[ -n "${BENCH_KEEP:-}" ] && echo "kept: $work" >&2
start_emulator --latency "$latency"
cd "$work/repo"
export ALGORITHMIA_API=$url ALGORITHMIA_API_KEY=$key GIT_CONFIG_GLOBAL=/dev/null
"$bin" plan algos --parallelism 16 >/dev/null 2>&1 || true   # warm the file cache
best=""
for _ in 1 2 3; do
    /usr/bin/time -f "%e %M" -o "$work/time" "$bin" plan algos --parallelism 16 --detailed-exitcode >"$work/plan" 2>&1 || true
    read -r wall rss <"$work/time"
    if [ -z "$best" ] || awk -v a="$wall" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$wall; best_rss=$rss; fi
done
grep -m3 "pending" "$work/plan" >&2 || true
tail -1 "$work/plan" >&2
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
awk -v n="$n" -v l="$latency" -v w="$best" -v r="$best_rss" -v p="$python_time" 'BEGIN {
    floor = int((n + 15) / 16) * l / 1000
    printf "%-28s %10s %10s %10s\n", "", "seconds", "x floor", "peak RSS"
    printf "%-28s %10.2f %10s %10s\n", "latency floor", floor, "1.00", ""
    printf "%-28s %10.2f %10.2f %8d MB\n", "algodeploy plan (" n ")", w, w / floor, r / 1024
    printf "%-28s %10.2f %10.2f %10s\n", "official client, one by one", p, p / floor, ""
}'
