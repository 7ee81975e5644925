#!/usr/bin/env bash
# The action's cache key part: which algodeploy this checkout of the action is. The commit when
# the action is a git checkout; else (GitHub unpacks actions from a tarball, without .git) a hash
# of everything the build reads. A branch ref such as @main that moves gets a new key, so a
# stale binary is never reused.
set -euo pipefail
action_path=${GITHUB_ACTION_PATH:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$action_path"
if id=$(git rev-parse HEAD 2>/dev/null) && [ "$(git rev-parse --show-toplevel 2>/dev/null)" = "$PWD" ]; then
    :
else
    sum() { if command -v sha256sum >/dev/null; then sha256sum; else shasum -a 256; fi; }
    id=$(find Cargo.toml Cargo.lock build.rs src -type f 2>/dev/null | LC_ALL=C sort | while read -r f; do
        printf '%s ' "$f"; sum <"$f"
    done | sum | cut -c1-40)
fi
echo "id=$id" >>"${GITHUB_OUTPUT:-/dev/stdout}"
