#!/bin/sh
# What the print-ready PDF letters need from the OS (whereabouts/activities/letter_pdf.py):
# WeasyPrint's libraries (Pango, HarfBuzz and its subsetter, fontconfig) and Debian's Noto fonts
# (fonts-noto-core: Noto Sans and Serif for Latin and Cyrillic, Noto Naskh Arabic, Noto Nastaliq
# Urdu, Noto Sans Bengali, Gujarati and Gurmukhi), which are embedded in every letter so it prints
# the same on any PC. Installs what is missing with apt-get. A letter without its fonts would
# print as boxes, so if they cannot be installed this says what to run and fails.
# `make test` and `make run` call it; the Dockerfile installs the same packages.
PACKAGES="libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fontconfig fonts-noto-core"

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "ensure-pdf: not a Debian system; make sure Pango >= 1.44 and the Noto fonts (Sans, Naskh Arabic, Nastaliq Urdu, Sans Bengali, Gujarati, Gurmukhi) are installed"
    exit 0
fi
missing=""
for pkg in $PACKAGES; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)
    [ "$status" = "install ok installed" ] || missing="$missing $pkg"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "ensure-pdf: the PDF letters need:$missing. Install them as root: apt-get install --no-install-recommends$missing"
    exit 1
fi

echo "ensure-pdf: installing$missing for the PDF letters"
log=$(mktemp)
install() {
    # shellcheck disable=SC2086
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >>"$log" 2>&1
}
# Try the package lists already on the machine first; refresh them only if that fails.
if install || { $SUDO apt-get update -q >>"$log" 2>&1 && install; }; then
    rm -f "$log"
    exit 0
fi
echo "ensure-pdf: could not install$missing (apt-get output: $log); the PDF letters need them"
exit 1
