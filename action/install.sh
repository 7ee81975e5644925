#!/usr/bin/env bash
# The action's install step. In order:
#   1. the cache (keyed by the action's source id, see source-id.sh) already holds the binary;
#   2. a release binary for this runner: `algodeploy-VERSION-TARGET.tar.gz` and its `.sha256`
#      from ALGODEPLOY_RELEASES/VERSION/ (default: this action's repository's GitHub releases),
#      the checksum verified before anything is unpacked. A checksum that does not match is a
#      failure, never a reason to fall back: the download was altered;
#   3. no release for this version or runner (a branch or commit ref, a fork without releases):
#      a deploy-only build from the action's own checkout (`cargo install --locked
#      --no-default-features`, no emulator, about a minute less than the full build).
# Then the binary's folder goes on GITHUB_PATH, so later steps run `algodeploy` by name.
#
# Inputs (environment): ALGODEPLOY_ROOT (install folder, required), ALGODEPLOY_VERSION (a
# release tag such as v0.2.0; default: the action's ref when it is one), ALGODEPLOY_RELEASES
# (base URL), RUNNER_OS / RUNNER_ARCH (set by GitHub), GITHUB_ACTION_PATH, GITHUB_PATH.
set -euo pipefail
root=${ALGODEPLOY_ROOT:?ALGODEPLOY_ROOT is required}
bin="$root/bin"
action_path=${GITHUB_ACTION_PATH:-$(cd "$(dirname "$0")/.." && pwd)}

on_path() {
    if [ -n "${GITHUB_PATH:-}" ]; then echo "$bin" >>"$GITHUB_PATH"; fi
    echo "algodeploy: $("$bin/algodeploy" --version)"
}

if [ -x "$bin/algodeploy" ]; then
    echo "algodeploy from the cache"
    on_path
    exit 0
fi

# The release target for this runner.
case "${RUNNER_OS:-$(uname -s)}/${RUNNER_ARCH:-$(uname -m)}" in
    Linux/X64 | Linux/x86_64) target=x86_64-unknown-linux-musl ;;
    Linux/ARM64 | Linux/aarch64) target=aarch64-unknown-linux-musl ;;
    macOS/ARM64 | Darwin/arm64) target=aarch64-apple-darwin ;;
    macOS/X64 | Darwin/x86_64) target=x86_64-apple-darwin ;;
    *) target="" ;;
esac

version=${ALGODEPLOY_VERSION:-}
if [ -z "$version" ] && [[ "${ACTION_REF:-}" =~ ^v[0-9]+(\.[0-9]+)*([-+].*)?$ ]]; then
    version=$ACTION_REF
fi
releases=${ALGODEPLOY_RELEASES:-}
if [ -z "$releases" ] && [ -n "${ACTION_REPOSITORY:-}" ]; then
    releases="${GITHUB_SERVER_URL:-https://github.com}/$ACTION_REPOSITORY/releases/download"
fi

sha256() {
    if command -v sha256sum >/dev/null; then sha256sum "$1"; else shasum -a 256 "$1"; fi | cut -d' ' -f1
}

if [ -n "$version" ] && [ -n "$target" ] && [ -n "$releases" ]; then
    name="algodeploy-$version-$target.tar.gz"
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    if curl --fail --silent --show-error --location --retry 3 --proto '=https,http' \
        -o "$work/$name" "$releases/$version/$name" 2>"$work/curl.err" &&
        curl --fail --silent --show-error --location --retry 3 --proto '=https,http' \
            -o "$work/$name.sha256" "$releases/$version/$name.sha256" 2>>"$work/curl.err"; then
        want=$(cut -d' ' -f1 <"$work/$name.sha256" | tr -d '[:space:]')
        have=$(sha256 "$work/$name")
        if [ "$want" != "$have" ]; then
            echo "::error title=algodeploy::the checksum of $name does not match its .sha256 (expected $want, got $have): the download was altered or truncated; nothing was installed" >&2
            exit 1
        fi
        mkdir -p "$work/unpacked" "$bin"
        tar -xzf "$work/$name" -C "$work/unpacked"
        install -m 755 "$work/unpacked/algodeploy" "$bin/algodeploy"
        echo "algodeploy $version for $target from $releases (sha256 $have)"
        on_path
        exit 0
    fi
    echo "no release binary $name at $releases/$version ($(tr '\n' ' ' <"$work/curl.err")); building from source" >&2
else
    echo "no release to download (version '${version:-none}', target '${target:-unknown}'); building from source" >&2
fi

cargo install --locked --no-default-features --path "$action_path" --root "$root"
on_path
