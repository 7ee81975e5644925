#!/usr/bin/env bash
# The action's install step: `cargo install --locked` from the action's own checkout into a
# cached folder (skipped when the cache already holds the binary).
set -euo pipefail
root=${ALGODEPLOY_ROOT:?}
if [ -x "$root/bin/algodeploy" ]; then
    echo "algodeploy from the cache: $("$root/bin/algodeploy" --version)"
    exit 0
fi
cargo install --locked --path "${GITHUB_ACTION_PATH:?}" --root "$root"
