#!/usr/bin/env bash
# Installs Debian's chromium for the dashboard's browser tests (test/dashboard-browser.test.ts
# drives it through playwright-core with executablePath /usr/bin/chromium; nothing downloads a
# browser of its own). Idempotent: does nothing when chromium is already installed.
#   bash scripts/install-chromium.sh          install it now
#   bash scripts/install-chromium.sh --ci     only under CI (CI=true): npm's pretest hook, so CI's
#                                             `npm ci && npm test` gets the browser and a user's
#                                             `npm test` never runs apt (the tests skip instead)
set -euo pipefail

if [ "${1:-}" = "--ci" ] && [ "${CI:-}" != "true" ]; then exit 0; fi

if [ -x /usr/bin/chromium ]; then
  echo "install-chromium: $(/usr/bin/chromium --version 2>/dev/null || echo chromium) already installed" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-chromium: apt-get not found; install chromium another way (or set STEPWISE_CHROMIUM to its path)" >&2
  exit 1
fi
SUDO=()
if [ "$(id -u)" -ne 0 ]; then SUDO=(sudo); fi
echo "install-chromium: installing Debian's chromium" >&2
"${SUDO[@]}" apt-get update
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
/usr/bin/chromium --version >&2
