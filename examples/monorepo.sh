#!/usr/bin/env bash
# A monorepo, end to end, against the embedded emulator (no account): examples/monorepo has two
# algorithms in folders and a shared libs/common that one of them includes. Then
#   validate → plan → apply (both created from their folders, pushed, built, smoke-tested,
#   published) → a change to libs/common with a bump → plan --changed-since (only its includer)
#   → apply → plan ("no changes").
# Set ALGODEPLOY to a built binary to skip `cargo build`.
set -euo pipefail
# shellcheck source=examples/emulator.sh
source "$(dirname "$0")/emulator.sh"

repo="$work/monorepo"
cp -R "$examples/monorepo" "$repo"
commit() {
    git -C "$repo" add --all
    git -C "$repo" -c user.name=algodeploy -c user.email=demo@example.com commit --quiet -m "$1"
}
git -C "$repo" init --quiet --initial-branch=main
commit "Two algorithms and a shared library"
cd "$repo"

step algodeploy validate algorithms
"$ALGODEPLOY" validate algorithms
step algodeploy plan algorithms
"$ALGODEPLOY" plan algorithms
step algodeploy apply algorithms --yes --push
"$ALGODEPLOY" apply algorithms --yes --push

step "# a change to the shared library, and the bump of the algorithm that includes it"
sed -i.bak 's/Hello, /Hello there, /' libs/common/greeting.py
sed -i.bak -e 's/semantic_version: 1.0.0/semantic_version: 1.1.0/' \
    -e 's/sample_output: Hello, Ada!/sample_output: Hello there, Ada!/' \
    -e 's/release_notes: First release./release_notes: A warmer greeting./' algorithms/greeter/algorithm.yaml
rm -f libs/common/greeting.py.bak algorithms/greeter/algorithm.yaml.bak
commit "A warmer greeting"
step algodeploy plan algorithms --changed-since HEAD~1
"$ALGODEPLOY" plan algorithms --changed-since HEAD~1
step algodeploy apply algorithms --changed-since HEAD~1 --yes --push
"$ALGODEPLOY" apply algorithms --changed-since HEAD~1 --yes --push
step algodeploy plan algorithms --detailed-exitcode
"$ALGODEPLOY" plan algorithms --detailed-exitcode
