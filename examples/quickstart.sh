#!/usr/bin/env bash
# algodeploy's main job, end to end, on a fresh machine with no account: start the embedded
# emulator, make a throwaway algorithm repository from examples/, then
#   validate → plan → apply (create, push, build, publish 1.0.0) → plan ("no changes").
# Set ALGODEPLOY to a built binary to skip `cargo build`.
set -euo pipefail
# shellcheck source=examples/emulator.sh
source "$(dirname "$0")/emulator.sh"

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
