#!/usr/bin/env bash
# Browser end-to-end test of fer-play's page: starts tools/fer-web-fake (a TEST-ONLY server over a fake
# engine) on a free port and drives the page in headless Debian Chromium with playwright-core.
#   tests/e2e/run.sh PATH/TO/fer-web-fake        (or FER_WEB_FAKE=... tests/e2e/run.sh)
# Exit: 0 passed, 1 failed, 77 skipped (no node, no chromium, or playwright-core cannot be installed).
# Screenshots go to $FER_E2E_ARTIFACTS (default ./e2e-artifacts, i.e. the build folder under ctest).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
fake="${1:-${FER_WEB_FAKE:-}}"
chromium="${FER_CHROMIUM:-/usr/bin/chromium}"

skip() { echo "e2e: SKIPPED: $*"; exit 77; }

if [[ -z "$fake" || ! -x "$fake" ]]; then
    echo "e2e: give the fer-web-fake binary as the first argument or in FER_WEB_FAKE (got '${fake}')" >&2
    exit 1
fi
command -v node >/dev/null 2>&1 || skip "node is not installed (apt-get install nodejs npm)"
[[ -x "$chromium" ]] || skip "$chromium is missing (apt-get install chromium), or set FER_CHROMIUM"
if [[ ! -d "$here/node_modules/playwright-core" ]]; then
    command -v npm >/dev/null 2>&1 || skip "npm is not installed, so playwright-core cannot be installed"
    # The lock file pins playwright-core; it never downloads a browser (the test uses Debian's chromium).
    (cd "$here" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error) ||
        skip "npm ci in $here failed (no registry?), so playwright-core is missing"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/fer-e2e.XXXXXX")"
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# Short tracks, so the test sees a song end and the next detect start within seconds.
"$fake" --music "$work/music" --port 0 --seconds 3 --look-ms 600 --script "happy,sad,surprise,no_face" \
    >"$work/server.log" 2>&1 &
server_pid=$!

url=""
for _ in $(seq 1 100); do
    url="$(grep -o 'http://[0-9.]*:[0-9]*/' "$work/server.log" | head -n 1 || true)"
    [[ -n "$url" ]] && break
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "e2e: fer-web-fake exited early:" >&2
        cat "$work/server.log" >&2
        exit 1
    fi
    sleep 0.1
done
if [[ -z "$url" ]]; then
    echo "e2e: fer-web-fake printed no address within 10 s:" >&2
    cat "$work/server.log" >&2
    exit 1
fi

export FER_E2E_URL="$url"
export FER_E2E_ARTIFACTS="${FER_E2E_ARTIFACTS:-$PWD/e2e-artifacts}"
export FER_CHROMIUM="$chromium"
status=0
timeout 120 node "$here/player.e2e.mjs" || status=$?
if [[ $status -ne 0 ]]; then
    echo "e2e: server log:" >&2
    cat "$work/server.log" >&2
    exit 1
fi
