#!/bin/sh
# Debian's chromium for tests/test_browser.py (Playwright's own browser download does not work
# everywhere, so the test drives /usr/bin/chromium). Installs it if it is missing; if it cannot,
# says so in one line and carries on, and the browser test skips with its reason.
CHROMIUM=/usr/bin/chromium
[ -x "$CHROMIUM" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "ensure-chromium: $CHROMIUM is missing and installing it needs root or sudo; the browser test will be skipped"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-chromium: $CHROMIUM is missing and there is no apt-get to install it; the browser test will be skipped"
    exit 0
fi

echo "ensure-chromium: installing Debian's chromium for the browser test"
log=$(mktemp)
install() {
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >>"$log" 2>&1
}
# Try the package lists already on the machine first; refresh them only if that fails.
if install || { $SUDO apt-get update -q >>"$log" 2>&1 && install; }; then
    rm -f "$log"
else
    echo "ensure-chromium: could not install chromium (apt-get output: $log); the browser test will be skipped"
fi
exit 0
