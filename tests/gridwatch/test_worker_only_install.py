"""A worker-only box: `pip install gridwatch[worker]` in an empty virtual environment, without
PyTorch, runs the worker on the demo clip from the exported model files it fetches from a real
API, and the environment stays under 1 GB.

The environment is built once per pyproject.toml and constraints.txt (their digest names it,
under ~/.cache/gridwatch/worker-venv/) and kept, like the main one; the worker runs this
checkout's code on it (PYTHONPATH), so only the dependencies come from the cache.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import httpx
import pytest

from tests.conftest import REPO, WORKER_TOKEN, LiveServer
from tests.test_end_to_end import camera_file

# Building the environment from nothing downloads about 300 MB of wheels.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

LIMIT_BYTES = 10**9
EXCERPT_S = 25  # people walk through the gate zone within the clip's first 20 s


def environment_key() -> str:
    inputs = (REPO / "pyproject.toml").read_bytes() + (REPO / "constraints.txt").read_bytes()
    return hashlib.sha256(inputs).hexdigest()[:16]


def worker_venv() -> tuple[Path, float | None]:
    """The cached worker-only environment, built now if missing; and the seconds building it
    took (None when it was cached)."""
    root = Path(
        os.environ.get("GRIDWATCH_WORKER_VENV_CACHE", Path.home() / ".cache/gridwatch/worker-venv")
    )
    venv = root / environment_key()
    done = venv / ".built"
    if done.is_file():
        return venv, None
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    python = f"python{sys.version_info.major}.{sys.version_info.minor}"
    subprocess.run([python, "-m", "venv", str(venv)], check=True, timeout=120)
    install = subprocess.run(
        [str(venv / "bin/python"), "-m", "pip", "install", "-q",
         "-c", str(REPO / "constraints.txt"), f"{REPO}[worker]"],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-3000:]
    # Old environments of earlier pyproject/constraints are left behind by each change.
    for old in root.iterdir():
        if old != venv:
            shutil.rmtree(old, ignore_errors=True)
    done.touch()
    return venv, time.monotonic() - started


def excerpt(clip: Path, target: Path, seconds: float) -> Path:
    """The first `seconds` of `clip`, written as Motion JPEG (the worker only has to read it)."""
    reader = cv2.VideoCapture(str(clip))
    fps = reader.get(cv2.CAP_PROP_FPS)
    size = (int(reader.get(cv2.CAP_PROP_FRAME_WIDTH)), int(reader.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    writer = cv2.VideoWriter(str(target), cv2.VideoWriter.fourcc(*"MJPG"), fps, size)
    for _ in range(round(fps * seconds)):
        ok, image = reader.read()
        if not ok:
            break
        writer.write(image)
    reader.release()
    writer.release()
    return target


def size_of(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def test_a_worker_without_torch_runs_the_demo_clip_from_files_fetched_from_the_api(
    settings_factory,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    demo_clip: Path,
    assets: dict[str, Path],
) -> None:
    venv, build_s = worker_venv()
    python = str(venv / "bin/python")
    size = size_of(venv)
    print(f"worker-only environment: {size / 1e6:.0f} MB, built in {build_s or 0:.0f} s")
    assert size < LIMIT_BYTES, f"{venv}: {size / 1e6:.0f} MB, over 1 GB"
    probe = subprocess.run(
        [python, "-c", "import torch"], capture_output=True, text=True, check=False
    )
    assert probe.returncode != 0 and "No module named 'torch'" in probe.stderr
    for name in ("ultralytics", "nvidia", "torch"):
        assert not list((venv / "lib").glob(f"python*/site-packages/{name}*")), name

    cameras = camera_file(
        tmp_path / "cameras", excerpt(demo_clip, tmp_path / "excerpt.avi", EXCERPT_S)
    )
    worker_data = tmp_path / "worker-data"  # an empty data directory: no weights, no exports
    server = LiveServer(
        settings_factory(f"sqlite:///{tmp_path / 'edge.db'}", camera_configs=cameras)
    ).start()
    try:
        environment = {
            key: value for key, value in os.environ.items() if not key.startswith("GRIDWATCH_")
        }
        environment.update(
            PYTHONPATH=str(REPO),
            GRIDWATCH_DATA_DIR=str(worker_data),
            GRIDWATCH_API_URL=server.url,
            GRIDWATCH_WORKER_TOKEN=WORKER_TOKEN,
            GRIDWATCH_WORKER_NAME="edge-box",
            GRIDWATCH_OUTBOX_PATH=str(tmp_path / "outbox.sqlite"),
        )
        worker = subprocess.run(
            [python, "-m", "gridwatch", "worker", "--cameras", str(cameras), "--once", "--fast"],
            env=environment, capture_output=True, text=True, timeout=900, cwd=tmp_path,
        )  # fmt: skip
        assert worker.returncode == 0, worker.stderr[-3000:]
        page = httpx.get(
            f"{server.url}/api/v1/events", params={"limit": 500}, headers=server.admin_headers()
        ).json()
    finally:
        server.stop()

    assert "(f59b3d833e2f, openvino)" in worker.stderr, worker.stderr[-3000:]
    # The files came from the API, named and checked as there; the weights never did.
    assert (worker_data / "yolov8n-f59b3d833e2f_openvino_model" / "metadata.yaml").is_file()
    assert not (worker_data / "yolov8n.pt").exists()
    events = page["items"]
    assert events, worker.stderr[-3000:]
    assert {event["incident"]["reported_by"] for event in events} == {"worker:edge-box"}
