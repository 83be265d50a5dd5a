"""Exported model files for workers without PyTorch: listed with their digests, served only as
listed, and fetched by a worker into its data directory, checked by SHA-256."""

from __future__ import annotations

import hashlib
from pathlib import Path

from fastapi.testclient import TestClient

from tests.api.helpers import WORKER


def test_the_exports_are_listed_with_digests_and_served_only_as_listed(
    api_client: TestClient, assets: dict[str, Path]
) -> None:
    answer = api_client.get("/api/v1/models/exports", headers=WORKER)
    assert answer.status_code == 200
    exports = {entry["model"]: entry for entry in answer.json()}
    yolo = exports["yolov8n"]
    assert yolo["weights_sha256"].startswith("f59b3d833e2f")
    assert {"onnx", "openvino", "openvino-int8"} <= set(yolo["backends"])
    assert yolo["int8_gate"] is not None and "passed" in yolo["int8_gate"]
    listed = {entry["path"]: entry for entry in yolo["files"]}
    onnx = listed["yolov8n-f59b3d833e2f.onnx"]
    served = api_client.get(onnx["url"], headers=WORKER)
    assert served.status_code == 200
    assert hashlib.sha256(served.content).hexdigest() == onnx["sha256"]
    assert len(served.content) == onnx["size"]
    for path in ("yolov8n.pt", "../data/yolov8n.pt", "vtest.avi"):
        refused = api_client.get(f"/api/v1/models/exports/{path}", headers=WORKER)
        assert refused.status_code == 404, path
    assert api_client.get("/api/v1/models/exports").status_code == 401
