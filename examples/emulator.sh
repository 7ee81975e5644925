# Shared by the example scripts (sourced, not run): find or build algodeploy, start the
# embedded emulator in a throwaway folder, export ALGORITHMIA_API and ALGORITHMIA_API_KEY, and
# define `step` (prints a command as a person would type it). Everything is removed on exit.
examples="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ -z "${ALGODEPLOY:-}" ]; then
    cargo build --quiet --manifest-path "$examples/../Cargo.toml"
    # Wherever cargo puts it (CARGO_TARGET_DIR, a workspace, a config file): ask cargo.
    target="$(cargo metadata --format-version 1 --no-deps --manifest-path "$examples/../Cargo.toml" |
        sed -n 's/.*"target_directory": *"\([^"]*\)".*/\1/p')"
    ALGODEPLOY="$target/debug/algodeploy"
fi
[ -x "$ALGODEPLOY" ] || { echo "algodeploy example: no algodeploy binary at $ALGODEPLOY" >&2; exit 1; }
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
    echo "algodeploy example: the emulator did not start:" >&2
    cat "$work/emulator.err" >&2
    exit 1
fi
ALGORITHMIA_API_KEY="$(sed -n 's/^export ALGORITHMIA_API_KEY=//p' "$work/emulator.err")"
export ALGORITHMIA_API ALGORITHMIA_API_KEY
echo "emulator: $ALGORITHMIA_API (key for owner demo in ALGORITHMIA_API_KEY)" >&2

