"""Exported model files for workers without PyTorch: listed with their digests, served only as
listed, and fetched by a worker into its data directory, checked by SHA-256."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from gridwatch.feed import ApiExportSource
from tests.api.helpers import WORKER
from tests.conftest import WORKER_TOKEN


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


class DamagingTransport(httpx.BaseTransport):
    """Passes requests to the API and flips one byte of every exported file on its way back, as
    a broken proxy or a flaky link would."""

    def __init__(self, inner: httpx.BaseTransport):
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if not request.url.path.startswith("/api/v1/models/exports/"):
            return response
        body = bytearray(response.read())
        body[len(body) // 2] ^= 0xFF
        return httpx.Response(response.status_code, headers=response.headers, content=bytes(body))


def test_a_worker_keeps_no_exported_file_that_arrived_damaged(
    api_client: TestClient, tmp_path: Path
) -> None:
    folder = tmp_path / "models"
    damaged = httpx.Client(transport=DamagingTransport(api_client._transport))
    source = ApiExportSource("http://testserver", WORKER_TOKEN, client=damaged)
    with pytest.raises(ValueError, match=r"model 'yolov8n': .+ does not match its SHA-256"):
        source.fetch("yolov8n", folder)
    assert not [path for path in folder.rglob("*") if path.is_file()], "nothing half-kept"

    whole = ApiExportSource("http://testserver", WORKER_TOKEN, client=api_client)
    assert whole.fetch("yolov8n", folder).startswith("f59b3d833e2f")
    listed = api_client.get("/api/v1/models/exports", headers=WORKER).json()
    for entry in next(e for e in listed if e["model"] == "yolov8n")["files"]:
        assert hashlib.sha256((folder / entry["path"]).read_bytes()).hexdigest() == entry["sha256"]
    assert not list(folder.rglob("*.partial"))
