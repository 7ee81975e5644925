#!/usr/bin/env python3
"""The action's `comment: true`: post the plan's Markdown as one pull-request comment, or
update the one an earlier run posted (found by a hidden marker, one per `comment-id`, so each
shard of a matrix keeps its own). The token goes only to GITHUB_API_URL, in a header.

Usage: comment.py MARKDOWN_FILE MARKER_ID. Environment: GITHUB_TOKEN, GITHUB_API_URL,
GITHUB_REPOSITORY, GITHUB_EVENT_PATH (the pull request's number comes from the event)."""

import json
import os
import sys
import urllib.request

# GitHub's limit for a comment body is 65,536 characters.
LIMIT = 65_000


def call(method, url, token, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Accept", "application/vnd.github+json")
    request.add_header("X-GitHub-Api-Version", "2022-11-28")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as answer:
        text = answer.read()
        return json.loads(text) if text else None, answer.headers


def main():
    markdown_file, marker_id = sys.argv[1], sys.argv[2]
    token = os.environ.get("GITHUB_TOKEN", "")
    api = os.environ.get("GITHUB_API_URL", "https://api.github.com").rstrip("/")
    repository = os.environ.get("GITHUB_REPOSITORY", "")
    try:
        with open(os.environ.get("GITHUB_EVENT_PATH", "")) as f:
            number = (json.load(f).get("pull_request") or {}).get("number")
    except (OSError, ValueError):
        number = None
    if not number:
        print("algodeploy: not a pull request event; no comment posted", file=sys.stderr)
        return 0
    if not token or not repository:
        print("::error title=algodeploy::comment: true needs github-token and GITHUB_REPOSITORY")
        return 1
    marker = f"<!-- algodeploy-comment:{marker_id} -->"
    with open(markdown_file) as f:
        text = f.read()
    if len(text) > LIMIT:
        text = text[:LIMIT] + "\n\n*The plan is longer than a comment can be: see the job's summary.*\n"
    body = f"{marker}\n{text}"
    url = f"{api}/repos/{repository}/issues/{number}/comments?per_page=100"
    existing = None
    while url and existing is None:
        page, headers = call("GET", url, token)
        existing = next((c for c in page or [] if marker in (c.get("body") or "")), None)
        url = None
        for part in (headers.get("Link") or "").split(","):
            if 'rel="next"' in part:
                url = part[part.find("<") + 1 : part.find(">")]
                # The token goes to the API only, whatever a Link header names.
                if not url.startswith(api + "/"):
                    url = None
    if existing:
        call("PATCH", f"{api}/repos/{repository}/issues/comments/{existing['id']}", token, {"body": body})
        print(f"algodeploy: updated comment {existing['id']} on pull request #{number}")
    else:
        made, _ = call("POST", f"{api}/repos/{repository}/issues/{number}/comments", token, {"body": body})
        print(f"algodeploy: commented on pull request #{number} ({made.get('id')})")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # noqa: BLE001 - one clear line, never the token
        print(f"::error title=algodeploy::could not post the plan comment: {type(e).__name__}: {e}")
        sys.exit(1)
