#!/usr/bin/env bash
# Debian packages the test suite needs beyond the Python environment: a real RTSP server
# (gst-rtsp-server through PyGObject, run by the system python3) and the GStreamer elements it
# uses to serve the demo clip as H.264 (x264enc from -ugly; RTP payloaders from -good); and
# Debian's Chromium, driven by Playwright in the web console's tests, with a CJK font so the
# Chinese labels render in its screenshots; and SIPp (sip-tester), which plays GB/T 28181 devices
# in tests/gb28181.
#
# Idempotent: asks dpkg first and only runs apt-get when something is missing, so a cached CI
# machine or a developer box pays nothing. Needs root (or sudo) only when it installs.
set -euo pipefail

PACKAGES=(
  python3-gi
  gir1.2-gst-rtsp-server-1.0
  gstreamer1.0-plugins-base
  gstreamer1.0-plugins-good
  gstreamer1.0-plugins-ugly
  chromium
  fonts-wqy-microhei
  sip-tester
)

missing=()
for package in "${PACKAGES[@]}"; do
  # dpkg-query, not `dpkg -s | grep -q`: under pipefail grep's early exit fails the pipe.
  if [ "$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null)" != "install ok installed" ]; then
    missing+=("$package")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "system-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

if ! command -v apt-get >/dev/null; then
  echo "system-deps: missing ${missing[*]} and apt-get is not available; install them by hand" >&2
  exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then
    sudo=(sudo)
  else
    echo "system-deps: missing ${missing[*]}; run this script as root to install them" >&2
    exit 1
  fi
fi

echo "system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update
"${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
echo "system-deps: done"
