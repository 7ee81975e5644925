#!/usr/bin/env bash
# algodeploy's main job, end to end, on a fresh machine with no account: start the embedded
# emulator, make a throwaway algorithm repository from examples/, then
#   validate → plan → apply (create, push, build, publish 1.0.0) → plan ("no changes").
# Set ALGODEPLOY to a built binary to skip `cargo build`.
set -euo pipefail
examples="$(cd "$(dirname "$0")" && pwd)"
if [ -z "${ALGODEPLOY:-}" ]; then
    cargo build --quiet --manifest-path "$examples/../Cargo.toml"
    # Wherever cargo puts it (CARGO_TARGET_DIR, a workspace, a config file): ask cargo.
    target="$(cargo metadata --format-version 1 --no-deps --manifest-path "$examples/../Cargo.toml" |
        sed -n 's/.*"target_directory": *"\([^"]*\)".*/\1/p')"
    ALGODEPLOY="$target/debug/algodeploy"
fi
[ -x "$ALGODEPLOY" ] || { echo "quickstart: no algodeploy binary at $ALGODEPLOY" >&2; exit 1; }
work="$(mktemp -d)"
emulator_pid=""
cleanup() {
    [ -n "$emulator_pid" ] && kill "$emulator_pid" 2>/dev/null && wait "$emulator_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

# Bold commands only on a terminal, never with NO_COLOR.
if [ -t 2 ] && [ -z "${NO_COLOR:-}" ]; then
    step() { printf '\n\033[1m$ %s\033[0m\n' "$*" >&2; }
else
    step() { printf '\n$ %s\n' "$*" >&2; }
fi

# 1. A local Algorithmia. It makes a key for owner `demo` and prints it on stderr.
"$ALGODEPLOY" emulator --listen 127.0.0.1:0 --data-dir "$work/emulator" --build-seconds 1 \
    >"$work/emulator.out" 2>"$work/emulator.err" &
emulator_pid=$!
for _ in $(seq 100); do
    grep -q '^listening on ' "$work/emulator.out" 2>/dev/null && break
    kill -0 "$emulator_pid" 2>/dev/null || break
    sleep 0.1
done
ALGORITHMIA_API="$(sed -n 's/^listening on //p' "$work/emulator.out")"
if [ -z "$ALGORITHMIA_API" ]; then
    echo "quickstart: the emulator did not start:" >&2
    cat "$work/emulator.err" >&2
    exit 1
fi
ALGORITHMIA_API_KEY="$(sed -n 's/^export ALGORITHMIA_API_KEY=//p' "$work/emulator.err")"
export ALGORITHMIA_API ALGORITHMIA_API_KEY
echo "emulator: $ALGORITHMIA_API (key for owner demo in ALGORITHMIA_API_KEY)" >&2

# 2. A throwaway algorithm repository: the example manifest and a Python entry point.
repo="$work/hello_world"
mkdir -p "$repo"
cp -R "$examples/algorithm.yaml" "$examples/requirements.txt" "$examples/src" "$repo/"
git -C "$repo" init --quiet --initial-branch=main
git -C "$repo" add --all
git -C "$repo" -c user.name=algodeploy -c user.email=demo@example.com commit --quiet -m "Hello World"
cd "$repo"

# 3. The main job.
step algodeploy validate
"$ALGODEPLOY" validate
step algodeploy plan
"$ALGODEPLOY" plan
step algodeploy apply --yes --push
"$ALGODEPLOY" apply --yes --push
step algodeploy plan --detailed-exitcode
"$ALGODEPLOY" plan --detailed-exitcode
