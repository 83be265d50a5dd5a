"""Bring-your-own model: an admin registers the fall model through the API with its Fall class
mapped to the health-emergency code; a worker runs it beside the COCO model on the same camera,
on a real picture of a man lying on the ground, and the grid event carries the mapped code."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import cv2
import httpx
import pytest

from api.settings import Settings
from contract.camera import CameraConfig
from gridwatch.feed import ApiModelSource
from gridwatch.outbox import IncidentSender, Outbox
from gridwatch.worker.assemble import CameraAssembly, DetectorPool
from gridwatch.worker.runner import Worker
from tests.conftest import WORKER_TOKEN, LiveServer

pytestmark = pytest.mark.slow


def lying_man_video(assets: dict[str, Path], folder: Path) -> Path:
    """darknet's person.jpg turned on its side, as a short recording."""
    picture = cv2.rotate(cv2.imread(str(assets["darknet-person.jpg"])), cv2.ROTATE_90_CLOCKWISE)
    height, width = picture.shape[:2]
    path = folder / "ward.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (width, height))
    for _ in range(30):
        writer.write(picture)
    writer.release()
    return path


def test_a_registered_model_runs_beside_coco_and_raises_its_mapped_code(
    assets: dict[str, Path], settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    server = LiveServer(settings_factory(f"sqlite:///{tmp_path / 'api.db'}")).start()
    admin = server.admin_headers()
    try:
        weights = assets["fall-yolov8.pt"].read_bytes()
        bad = httpx.post(
            f"{server.url}/api/v1/models", headers=admin,
            data={"name": "ward-fall", "class_codes": json.dumps({"Fallen": "0901"})},
            files={"weights": ("best.pt", weights)}, timeout=120,
        )  # fmt: skip
        assert bad.status_code == 422 and "no class 'Fallen'" in bad.json()["detail"]
        registered = httpx.post(
            f"{server.url}/api/v1/models", headers=admin,
            data={"name": "ward-fall", "class_codes": json.dumps({"Fall": "0901"})},
            files={"weights": ("best.pt", weights)}, timeout=120,
        )  # fmt: skip
        assert registered.status_code == 201, registered.text
        assert registered.json()["class_names"] == ["Normal", "Fall"]

        hospital = {"id": "district-peoples-hospital", "name": "Hospital", "kind": "health"}
        everywhere = [[0, 0], [1, 0], [1, 1], [0, 1]]
        camera = CameraConfig.model_validate(
            {
                "id": "ward-3", "name": "Ward 3 corridor",
                "source": f"file://{lying_man_video(assets, tmp_path)}", "organisation": hospital,
                "location": {"lat": 30.285, "lon": 120.14},
                "detect": {"fps": 2}, "playback": {"loop": False, "realtime": False},
                "motion": {"enabled": False},  # a still picture: the model must look every time
                "zones": [{"name": "all", "polygon": everywhere}],
                "rules": [{"kind": "intrusion", "zone": "all", "classes": ["person"]}],
                "custom_models": [{"model": "ward-fall", "min_frames": 2, "confidence": 0.35}],
            }
        )  # fmt: skip
        owner = {
            **camera.model_dump(mode="json", exclude={"organisation"}),
            "organisation_id": "district-peoples-hospital",
        }
        assert (
            httpx.post(f"{server.url}/api/v1/cameras", json=owner, headers=admin).status_code == 201
        )

        outbox = Outbox(tmp_path / "outbox.sqlite")
        sender = IncidentSender(outbox, server.url, WORKER_TOKEN)
        models = ApiModelSource(server.url, WORKER_TOKEN, tmp_path / "data")
        worker = Worker(
            [camera],
            CameraAssembly(DetectorPool(assets["yolov8n.pt"].parent), custom_models=models),
            outbox,
            sender,
        )
        worker.run(drain_s=30)
        models.close()
        sender.close()
        outbox.close()
        # The weights came from the API and match what was registered.
        assert (
            tmp_path / "data" / "custom-models" / f"{registered.json()['weights_sha256']}.pt"
        ).is_file()

        page = httpx.get(
            f"{server.url}/api/v1/events", params={"camera_id": "ward-3"}, headers=admin
        ).json()
        by_code = {event["event_code"]: event for event in page["items"]}
        fallen = by_code["0901"]
        assert fallen["category"] == "health_emergency" and fallen["severity"] == "critical"
        assert (
            fallen["incident"]["model_name"] == "ward-fall"
            and fallen["incident"]["object_class"] == "Fall"
        )
        # The COCO model ran on the same frames: the man in the ward raised the camera's own rule.
        intrusion = by_code["0801"]
        assert intrusion["incident"]["model_name"] == "yolov8n"
        assert intrusion["incident"]["object_class"] == "person"
    finally:
        server.stop()
