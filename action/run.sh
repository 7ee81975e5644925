#!/usr/bin/env bash
# The action's main step: runs `algodeploy plan` or `apply` with the action's inputs, lets
# algodeploy append its Markdown plan to the step summary (it does under GitHub Actions), and
# sets the outputs: exit-code and the counts of changes. A plan with changes (exit 2) is a
# success of the step; every other non-zero code fails it.
set -uo pipefail
bin=${ALGODEPLOY:-algodeploy}
command=${INPUT_COMMAND:-plan}
case "$command" in
    plan | apply) ;;
    *) echo "::error title=algodeploy::the command input must be plan or apply, not $command"; exit 64 ;;
esac
args=("$command")
if [ -n "${INPUT_PATHS:-}" ]; then read -ra paths <<<"$INPUT_PATHS"; args+=("${paths[@]}"); fi
if [ -n "${INPUT_CHANGED_SINCE:-}" ]; then args+=(--changed-since "$INPUT_CHANGED_SINCE"); fi
if [ -n "${INPUT_SHARD:-}" ]; then args+=(--shard "$INPUT_SHARD"); fi
if [ -n "${INPUT_ARGS:-}" ]; then read -ra extra <<<"$INPUT_ARGS"; args+=("${extra[@]}"); fi
plan_file="${RUNNER_TEMP:-$(mktemp -d)}/algodeploy-plan.json"
if [ "$command" = plan ]; then
    args+=(--detailed-exitcode --out "$plan_file")
    "$bin" "${args[@]}"
    code=$?
else
    args+=(--yes --format json)
    "$bin" "${args[@]}" >"$plan_file"
    code=$?
fi
counts=$(python3 - "$plan_file" "$command" <<'PY' 2>/dev/null || true
import json, sys
try:
    document = json.load(open(sys.argv[1]))
except (OSError, ValueError):
    sys.exit(0)
plan = document.get("plan") if sys.argv[2] == "apply" else document
summary = (plan or {}).get("summary") or {}
keys = ["create", "update", "push", "test", "publish"]
for key in keys:
    print(f"{key}={summary.get(key, 0)}")
print(f"changes={sum(summary.get(k, 0) for k in keys)}")
PY
)
{
    echo "exit-code=$code"
    [ -n "$counts" ] && echo "$counts"
} >>"${GITHUB_OUTPUT:-/dev/null}"
if [ "$command" = plan ] && [ "$code" -eq 2 ]; then exit 0; fi
exit "$code"
