#!/usr/bin/env bash
# Makes sure headless Chromium and its WebDriver are here for the dashboard's browser tests
# (tests/tests/dashboard.rs starts chromedriver itself). On Debian it installs the `chromium`
# and `chromium-driver` packages when missing (as root, or through sudo); elsewhere it says
# what to do. CHROMIUM_BIN / CHROMEDRIVER_BIN point the tests at other binaries.
set -euo pipefail
chromium="${CHROMIUM_BIN:-/usr/bin/chromium}"
driver="${CHROMEDRIVER_BIN:-/usr/bin/chromedriver}"
if [ -x "$chromium" ] && [ -x "$driver" ]; then exit 0; fi

echo "setup: Chromium or ChromeDriver is missing (the dashboard's browser tests need both)" >&2
if ! command -v apt-get >/dev/null; then
    echo "setup: install Chromium and a matching ChromeDriver; set CHROMIUM_BIN and CHROMEDRIVER_BIN" >&2
    exit 1
fi
source "$(dirname "$0")/apt-lib.sh"
apt_install chromium chromium-driver
