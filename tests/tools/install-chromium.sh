#!/usr/bin/env bash
# Installs Debian's Chromium when missing, for the dashboard's browser test (Playwright
# drives /usr/bin/chromium; no browser is ever downloaded).
set -euo pipefail
if [ ! -x /usr/bin/chromium ]; then
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
/usr/bin/chromium --version
