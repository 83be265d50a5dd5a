#!/usr/bin/env bash
# System packages the web console's browser tests need: Debian's Chromium, driven by Playwright,
# and a CJK font so the Chinese labels render in its screenshots.
# Idempotent: installs only what is missing, so `make test` costs nothing once it is there.
set -euo pipefail

missing=()
for package in chromium fonts-wqy-microhei; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

run_as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}
echo "console-deps: installing ${missing[*]}" >&2
run_as_root apt-get update -qq
run_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
