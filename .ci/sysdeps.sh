#!/usr/bin/env bash
# Installs, where apt-get is available and we are root, the system pieces the tests use:
# Qt's runtime libraries, Xvfb (for real-window screenshots) and Debian's Fashion-MNIST.
set -u
pkgs="libegl1 libgl1 libfontconfig1 libxkbcommon0 libxkbcommon-x11-0 libdbus-1-3 libglib2.0-0
      xvfb xauth libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 dataset-fashion-mnist"
if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
    echo "sysdeps: apt-get unavailable or not root; skipping (tests needing these will skip)"
    exit 0
fi
missing=""
for p in $pkgs; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "sysdeps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null 2>&1 || true
apt-get install -y -qq $missing >/dev/null 2>&1 || echo "sysdeps: some packages could not be installed:$missing"
exit 0
