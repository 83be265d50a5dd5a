"""The owners' "test connection" through the API, against a real RTSP server."""

from __future__ import annotations

import base64

import cv2
import numpy as np
from fastapi.testclient import TestClient

from tests.conftest import Accounts
from tests.ingest.peers import RtspServer


def test_an_owner_tests_a_camera_and_sees_its_picture(
    api_client: TestClient, accounts: Accounts, rtsp_server: RtspServer
) -> None:
    response = api_client.post(
        "/api/v1/cameras/test",
        json={"source": rtsp_server.url("cam")},
        headers=accounts.headers("school_owner"),
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["ok"] and report["kind"] == "rtsp" and report["codec"] == "h264"
    assert report["resolution"] == [768, 576]
    picture = cv2.imdecode(
        np.frombuffer(base64.b64decode(report["snapshot_jpeg_base64"]), np.uint8), cv2.IMREAD_COLOR
    )
    assert picture.shape == (576, 768, 3)


def test_a_camera_that_cannot_be_used_says_why(
    api_client: TestClient, accounts: Accounts, protected_rtsp_server: RtspServer
) -> None:
    owner = accounts.headers("school_owner")
    wrong = protected_rtsp_server.url(user="admin", password="not-the-password")
    response = api_client.post(
        "/api/v1/cameras/test", json={"source": wrong, "timeout_s": 5}, headers=owner
    )
    assert response.status_code == 422
    assert "authentication failed" in response.json()["detail"].lower()
    assert "not-the-password" not in response.text
    leak = api_client.post(
        "/api/v1/cameras/test",
        json={"source": "rtsp://${GRIDWATCH_SECRET_KEY}@127.0.0.1:9/x"},
        headers=owner,
    )
    assert leak.status_code == 422 and "administrators" in leak.json()["detail"]
    assert (
        api_client.post(
            "/api/v1/cameras/test",
            json={"source": "rtsp://x/"},
            headers=accounts.headers("school_worker"),
        ).status_code
        == 403
    )
