#!/usr/bin/env bash
# The action's main step: runs `algodeploy validate`, `plan` or `apply` with the action's
# inputs and sets the outputs:
#   exit-code  algodeploy's exit code (plan: 2 means changes pending, which passes the step)
#   plan-file  plan: the saved plan (`plan --out`), for `algodeploy show` or `apply PLANFILE`;
#              apply: the JSON result (the plan applied, records, errors)
#   markdown-file  the plan (or the apply and its results) as Markdown, for a comment
#   create, update, push, test, publish, changes  the counts
# Plan runs once: its Markdown is what algodeploy writes for the step summary.
set -uo pipefail
bin=${ALGODEPLOY:-algodeploy}
command=${INPUT_COMMAND:-plan}
case "$command" in
    validate | plan | apply) ;;
    *)
        echo "::error title=algodeploy::the command input must be validate, plan or apply, not '$command'"
        exit 64
        ;;
esac
out_dir=${RUNNER_TEMP:-$(mktemp -d)}
shard=${INPUT_SHARD:-}
suffix=${shard//\//-of-}
plan_file="$out_dir/algodeploy-$command${suffix:+-$suffix}.json"
markdown_file="$out_dir/algodeploy-$command${suffix:+-$suffix}.md"
args=("$command")
if [ -n "${INPUT_PATHS:-}" ]; then read -ra paths <<<"$INPUT_PATHS"; args+=("${paths[@]}"); fi
if [ "$command" != validate ]; then
    if [ -n "${INPUT_CHANGED_SINCE:-}" ]; then args+=(--changed-since "$INPUT_CHANGED_SINCE"); fi
    if [ -n "${INPUT_SHARD:-}" ]; then args+=(--shard "$INPUT_SHARD"); fi
    if [ -n "${INPUT_ENV:-}" ]; then args+=(--env "$INPUT_ENV"); fi
fi
if [ -n "${INPUT_ARGS:-}" ]; then read -ra extra <<<"$INPUT_ARGS"; args+=("${extra[@]}"); fi

# algodeploy writes its Markdown (plan, or apply with its results) to GITHUB_STEP_SUMMARY under
# GitHub Actions: pointed at markdown-file here, then appended to the job's summary below.
step_summary=${GITHUB_STEP_SUMMARY:-}
: >"$markdown_file"
case "$command" in
    validate)
        "$bin" "${args[@]}" --format github
        code=$?
        ;;
    plan)
        GITHUB_ACTIONS=true GITHUB_STEP_SUMMARY=$markdown_file \
            "$bin" "${args[@]}" --detailed-exitcode --out "$plan_file"
        code=$?
        ;;
    apply)
        # Text progress on stderr (the job's log); the JSON result to a file.
        GITHUB_ACTIONS=true GITHUB_STEP_SUMMARY=$markdown_file \
            "$bin" "${args[@]}" --yes --format json >"$plan_file"
        code=$?
        ;;
esac
if [ -n "$step_summary" ] && [ -s "$markdown_file" ]; then cat "$markdown_file" >>"$step_summary"; fi

counts=$(python3 - "$plan_file" "$command" <<'PY' 2>/dev/null || true
import json, sys
path, command = sys.argv[1:3]
try:
    with open(path) as f:
        document = json.load(f)
except (OSError, ValueError):
    sys.exit(0)
plan = document.get("plan") if command == "apply" else document
summary = (plan or {}).get("summary") or {}
keys = ["create", "update", "push", "test", "publish"]
for key in keys:
    print(f"{key}={summary.get(key, 0)}")
print(f"changes={sum(summary.get(k, 0) for k in keys)}")
PY
)
{
    echo "exit-code=$code"
    if [ "$command" != validate ]; then
        [ -s "$plan_file" ] && echo "plan-file=$plan_file"
        [ -s "$markdown_file" ] && echo "markdown-file=$markdown_file"
        [ -n "$counts" ] && echo "$counts"
    fi
} >>"${GITHUB_OUTPUT:-/dev/null}"
if [ "$command" = plan ] && [ "$code" -eq 2 ]; then exit 0; fi
exit "$code"
