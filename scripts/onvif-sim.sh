#!/usr/bin/env bash
# Build (once) the environment of the ONVIF camera simulator the ingest tests run against, and
# print its folder. Idempotent: a stamp named after the pinned requirements skips the build when
# nothing changed, so the test fixture can call this on every run.
#
#   scripts/onvif-sim.sh            build if needed, print the environment's folder
#   GRIDWATCH_ONVIF_SIM_VENV=DIR    build it there instead of ~/.cache/gridwatch/ipycam-venv
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
requirements="$here/onvif-sim-requirements.txt"
venv="${GRIDWATCH_ONVIF_SIM_VENV:-$HOME/.cache/gridwatch/ipycam-venv}"
python="${PYTHON:-python3.11}"
key="$(sha256sum "$requirements" | cut -c1-16)"
stamp="$venv/.gridwatch-sim-$key"

if [[ ! -f "$stamp" ]]; then
    # A lock, so two test runs starting together do not build into the same folder at once.
    mkdir -p "$(dirname "$venv")"
    exec 9>"$venv.lock"
    flock 9
    if [[ ! -f "$stamp" ]]; then
        echo "building the ONVIF simulator environment in $venv" >&2
        [[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
        "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$requirements" >&2
        # ipycam runs `ffmpeg` from PATH; the fixture puts this folder first on it.
        ffmpeg="$("$venv/bin/python" -c 'import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())')"
        ln -sf "$ffmpeg" "$venv/bin/ffmpeg"
        encoders="$("$venv/bin/ffmpeg" -hide_banner -encoders 2>/dev/null)"
        [[ "$encoders" == *libx264* ]] || { echo "the simulator's ffmpeg has no libx264" >&2; exit 1; }
        rm -f "$venv"/.gridwatch-sim-*
        touch "$stamp"
    fi
fi
echo "$venv"
