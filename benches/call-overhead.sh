#!/usr/bin/env bash
# What a warm call through the emulator's call API costs on top of the algorithm's own time:
# deploys two Python algorithms (one returns at once, one sleeps 20 ms), warms them, then
# makes CALLS keep-alive calls to each and reports, side by side, the median wall time, the
# overhead over the algorithm's own time, and the ratio.
# Usage: benches/call-overhead.sh [CALLS]   (builds the release binary first)
set -euo pipefail
cd "$(dirname "$0")/.."
calls=${1:-200}
cargo build --release --quiet
bin="$PWD/target/release/algodeploy"
work=$(mktemp -d)
key=simBenchKey000000000000000001
"$bin" emulator --listen 127.0.0.1:0 --data-dir "$work/data" --key "demo=$key" --admin-token x \
    --build-seconds 0 >"$work/out" 2>/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do grep -q listening "$work/out" && break; sleep 0.05; done
url=$(sed -n 's/^listening on //p' "$work/out")
host=${url#http://}
deploy() { # name, body of apply()
    curl -sf -X POST -H "Authorization: Simple $key" -H 'Content-Type: application/json' "$url/v1/algorithms/demo" \
        -d "{\"name\":\"$1\",\"details\":{\"label\":\"$1\"},\"settings\":{\"license\":\"mit\",\"source_visibility\":\"open\",\"network_access\":\"full\",\"pipeline_enabled\":false,\"package_set\":\"python38\"}}" >/dev/null
    mkdir -p "$work/$1/src" && printf 'import time\n\ndef apply(input):\n%s\n' "$2" >"$work/$1/src/$1.py"
    : >"$work/$1/requirements.txt"
    (cd "$work/$1" && git init -q -b main && git add -A && git -c user.name=b -c user.email=b@example.com commit -qm b &&
        GIT_CONFIG_GLOBAL=/dev/null git push -q --force "http://demo:$key@$host/git/demo/$1.git" HEAD:master)
    git -C "$work/$1" rev-parse HEAD
}
fast=$(deploy fast "    return input")
slow=$(deploy slow "    time.sleep(0.02)
    return input")
sleep 1
python3 - "$host" "$key" "$calls" "$fast" "$slow" <<'PY'
import http.client, json, statistics, sys, time
host, key, calls, fast, slow = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
connection = http.client.HTTPConnection(host)
def call(name, commit):
    started = time.perf_counter()
    connection.request("POST", f"/v1/algo/demo/{name}/{commit}", body="x",
                       headers={"Authorization": key, "Content-Type": "text/plain"})
    answer = json.loads(connection.getresponse().read())
    assert answer.get("result") == "x", answer
    return time.perf_counter() - started
rows = []
for name, commit, own in (("fast", fast, 0.0), ("slow", slow, 0.020)):
    for _ in range(5):
        call(name, commit)  # warm: the worker is started and kept
    times = [call(name, commit) for _ in range(calls)]
    median = statistics.median(times)
    rows.append((name, own * 1000, median * 1000, (median - own) * 1000, median / own if own else float("nan")))
print(f"{'algorithm':<10} {'own ms':>8} {'call ms (median)':>17} {'overhead ms':>12} {'ratio':>7}")
for name, own, median, overhead, ratio in rows:
    print(f"{name:<10} {own:>8.1f} {median:>17.2f} {overhead:>12.2f} {ratio:>7.2f}")
PY
