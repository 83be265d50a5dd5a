"""A camera's addresses and their credentials (issue 13, kinds 2 and 9; issue 14, kind 1): every
address field encrypted at rest and masked in every answer, export, log line and history row;
passwords with URL delimiters read, substituted and masked as passwords, and usable to connect
to a real RTSP server. Real API on SQLite and PostgreSQL, owners of two organisations."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from api.app import create_app
from api.models import Camera
from contract.addresses import mask_credentials
from contract.camera import CameraConfig, default_data_dir
from contract.loading import load_cameras
from gridwatch.cli import app as cli
from ingest.addresses import split_address
from ingest.rtsp import RtspSource
from tests.api.helpers import WORKER
from tests.conftest import Accounts, seed_accounts
from tests.ingest.peers import SYSTEM_PYTHON, RtspServer, encoded_clip

SOURCE_PASSWORD = "Main/pa#ss"
SUB_PASSWORD = "Sub?p@ss#2"
REGISTRATION = {
    "id": "gate-secret",
    "name": "Gate with a sub stream",
    "source": f"rtsp://admin:{SOURCE_PASSWORD}@10.20.30.40:554/Streaming/101",
    "location": {"lat": 30.2550, "lon": 120.1200},
    "stream": {"sub_source": f"rtsp://admin:{SUB_PASSWORD}@10.20.30.40:554/Streaming/102"},
}
REGISTRATION_SUB_SOURCE = f"rtsp://admin:{SUB_PASSWORD}@10.20.30.40:554/Streaming/102"
SECRETS = (SOURCE_PASSWORD, SUB_PASSWORD, "pa#ss", "p@ss", "pa%23ss", "p%40ss")
# Passwords a camera admits that delimit URLs, alone and all together.
DELIMITED = ["pa/ss", "pa#ss", "pa?ss", "p@ss", "a/b#c?d@e", "/lead", "#1", "100%"]


def _clean(text_: str) -> None:
    for secret in SECRETS:
        assert secret not in text_, secret


def _register(client: TestClient, accounts: Accounts) -> dict[str, Any]:
    response = client.post(
        "/api/v1/cameras", json=REGISTRATION, headers=accounts.headers("school_owner")
    )
    assert response.status_code == 201, response.text
    detail: dict[str, Any] = response.json()
    return detail


def _feed_camera(client: TestClient, camera_id: str) -> dict[str, Any]:
    feed = client.get("/api/v1/worker/cameras", headers=WORKER).json()
    (camera,) = [camera for camera in feed["cameras"] if camera["id"] == camera_id]
    assert isinstance(camera, dict)
    return camera


def test_every_address_is_encrypted_at_rest_and_masked_in_every_answer(
    api_client: TestClient, accounts: Accounts, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    owner = accounts.headers("school_owner")
    detail = _register(api_client, accounts)
    _clean(json.dumps(detail))
    assert detail["source"] == "rtsp://***@10.20.30.40:554/Streaming/101"
    assert detail["config"]["stream"]["sub_source"] == "rtsp://***@10.20.30.40:554/Streaming/102"

    answers = [
        api_client.get("/api/v1/cameras", headers=owner),
        api_client.get("/api/v1/cameras.geojson", headers=owner),
        api_client.get("/api/v1/cameras/gate-secret", headers=owner),
        api_client.get("/api/v1/cameras/gate-secret/health", headers=owner),
        api_client.get("/api/v1/cameras/gate-secret/config.yaml", headers=owner),
        api_client.get("/api/v1/cameras/gate-secret", headers=accounts.headers("admin")),
    ]
    for answer in answers:
        assert answer.status_code == 200, answer.text
        _clean(answer.text)
    exported = yaml.safe_load(answers[4].text)
    assert exported["stream"]["sub_source"].startswith("rtsp://***@")
    # The other organisation's owner does not see the camera at all.
    other = accounts.headers("works_owner")
    assert api_client.get("/api/v1/cameras/gate-secret", headers=other).status_code == 404

    # At rest: nothing in clear, in any column.
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            row = connection.execute(
                text("SELECT * FROM camera WHERE id = 'gate-secret'")
            ).mappings().one()  # fmt: skip
    finally:
        engine.dispose()
    _clean(json.dumps({key: str(value) for key, value in row.items()}))
    assert row["addresses_encrypted"]

    # Workers receive every address decrypted, read as written.
    camera = _feed_camera(api_client, "gate-secret")
    for field, password in (("source", SOURCE_PASSWORD), ("sub_source", SUB_PASSWORD)):
        address = camera[field] if field == "source" else camera["stream"][field]
        parsed = split_address("gate", address, {"rtsp": 554}, "RTSP")
        assert (parsed.host, parsed.password) == ("10.20.30.40", password)

    # A form that sends the camera back as shown changes no address.
    shown = api_client.get("/api/v1/cameras/gate-secret", headers=owner).json()["config"]
    patched = api_client.patch(
        "/api/v1/cameras/gate-secret",
        json={**{k: v for k, v in shown.items() if k != "id"},
              "stream": {**shown["stream"], "transport": "udp"}},
        headers=owner,
    )  # fmt: skip
    assert patched.status_code == 200, patched.text
    after = _feed_camera(api_client, "gate-secret")
    assert after["source"] == camera["source"]
    assert after["stream"]["sub_source"] == camera["stream"]["sub_source"]
    assert after["stream"]["transport"] == "udp"

    # A worker's health report naming an address with its password: masked for every reader,
    # in the camera's health and in the history of the video-loss event it opens.
    error = f"lost {REGISTRATION_SUB_SOURCE}"
    for since in ("2026-11-29T08:00:00+00:00", "2026-11-29T08:00:05+00:00"):
        reported = api_client.put(
            "/api/v1/cameras/gate-secret/health",
            json={"status": "offline", "offline_since": since, "error": error},
            headers=WORKER,
        )
        assert reported.status_code == 204
    health = api_client.get("/api/v1/cameras/gate-secret/health", headers=owner)
    _clean(health.text)
    assert "rtsp://***@10.20.30.40" in health.json()["health"]["error"]
    events = api_client.get(
        "/api/v1/events", params={"camera_id": "gate-secret"}, headers=accounts.headers("admin")
    ).json()["items"]
    for event in events:
        full = api_client.get(f"/api/v1/events/{event['id']}", headers=accounts.headers("admin"))
        _clean(full.text)
    _clean("\n".join(record.getMessage() for record in caplog.records))


def test_sub_stream_addresses_stored_in_clear_are_encrypted_at_start(
    database_url: str, settings_factory: Any
) -> None:
    settings = settings_factory(database_url)
    with TestClient(create_app(settings)) as client:
        seed_accounts(client.app)
        _register(client, Accounts(client))
        # As a row written before sub streams were encrypted holds it.
        with client.app.state.session_factory() as session:  # type: ignore[attr-defined]
            camera = session.get(Camera, "gate-secret")
            assert camera is not None
            stream = {**camera.config["stream"], "sub_source": REGISTRATION_SUB_SOURCE}
            camera.config = {**camera.config, "stream": stream}
            camera.addresses_encrypted = None
            session.commit()
    with TestClient(create_app(settings)) as client:
        with client.app.state.session_factory() as session:  # type: ignore[attr-defined]
            camera = session.get(Camera, "gate-secret")
            assert camera is not None and camera.addresses_encrypted
            _clean(json.dumps(camera.config))
        sub_source = _feed_camera(client, "gate-secret")["stream"]["sub_source"]
        parsed = split_address("gate", sub_source, {"rtsp": 554}, "RTSP")
        assert (parsed.host, parsed.password) == ("10.20.30.40", SUB_PASSWORD)


@pytest.mark.parametrize("password", DELIMITED)
def test_a_password_with_url_delimiters_is_a_password_written_or_substituted(
    password: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    organisation = "organisation: {id: no1-primary-school, name: School, kind: education}"
    location = "location: {lat: 30.255, lon: 120.12}"
    written = f"rtsp://admin:{password}@127.0.0.1:8554/h264"
    (tmp_path / "written.yaml").write_text(
        f"id: written\nname: Written\n{organisation}\n{location}\n"
        f"source: '{written}'\nstream: {{sub_source: '{written}'}}\n"
    )
    (tmp_path / "referenced.yaml").write_text(
        f"id: referenced\nname: Referenced\n{organisation}\n{location}\n"
        "source: 'rtsp://admin:${CAM_PASS}@127.0.0.1:8554/h264'\n"
    )
    (tmp_path / "query.yaml").write_text(
        f"id: query\nname: Query\n{organisation}\n{location}\n"
        "source: 'http://127.0.0.1:8080/snapshot.cgi?user=admin&pwd=${CAM_PASS}&chn=1'\n"
    )
    monkeypatch.setenv("CAM_PASS", password)
    cameras = {camera.id: camera for camera in load_cameras([tmp_path])}
    for address in (
        cameras["written"].resolved_source(),
        cameras["written"].detect_source(),
        cameras["referenced"].resolved_source(),
    ):
        parsed = split_address("gate", address, {"rtsp": 554}, "RTSP")
        assert (parsed.host, parsed.port) == ("127.0.0.1", 8554)
        assert (parsed.username, parsed.password) == ("admin", password)
        assert mask_credentials(address) == "rtsp://***@127.0.0.1:8554/h264"
    from urllib.parse import parse_qs, urlsplit

    query = cameras["query"].resolved_source()
    assert parse_qs(urlsplit(query).query)["pwd"] == [password]
    assert mask_credentials(query) == "http://127.0.0.1:8080/snapshot.cgi?user=***&pwd=***&chn=1"

    checked = CliRunner().invoke(cli, ["check-config", str(tmp_path)])
    assert checked.exit_code == 0, checked.output
    assert password not in checked.output and "rtsp://***@127.0.0.1:8554/h264" in checked.output
    # A camera file with a mistake repeats the address only masked.
    (tmp_path / "written.yaml").write_text(
        f"id: written\nname: Written\n{organisation}\n{location}\n"
        f"source: 'rstp://admin:{password}@h/1'\n"
    )
    refused = CliRunner().invoke(cli, ["check-config", str(tmp_path)])
    assert refused.exit_code == 1 and "source" in refused.output
    assert password not in refused.output


@pytest.fixture(scope="module")
def guarded_rtsp_server(
    demo_clip: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RtspServer]:
    """A camera whose password holds every URL delimiter, behind digest authentication."""
    if not Path(SYSTEM_PYTHON).exists():
        pytest.fail(f"{SYSTEM_PYTHON} is missing; run scripts/system-deps.sh")
    clip = encoded_clip(demo_clip, default_data_dir())
    log = tmp_path_factory.mktemp("rtsp") / "guarded.log"
    with RtspServer(clip, user="admin", password="p/a#s?s@1", digest=True, log_path=log) as server:
        yield server


def test_a_password_with_every_delimiter_connects_and_is_never_shown(
    guarded_rtsp_server: RtspServer,
    api_client: TestClient,
    accounts: Accounts,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    password = "p/a#s?s@1"
    port = guarded_rtsp_server.port
    written = f"rtsp://admin:{password}@127.0.0.1:{port}/cam"
    monkeypatch.setenv("CAM_PASS", password)

    # The adapter, as a worker opens it: written in clear, and through ${CAM_PASS}.
    referenced = CameraConfig.model_validate({
        "id": "gate", "name": "Gate", "location": {"lat": 30.255, "lon": 120.12},
        "organisation": {"id": "no1-primary-school", "name": "School", "kind": "education"},
        "source": f"rtsp://admin:${{CAM_PASS}}@127.0.0.1:{port}/cam",
    })  # fmt: skip
    for address in (written, referenced.resolved_source()):
        source = RtspSource("gate", address, detect_fps=5)
        try:
            frame = source.read()
        finally:
            source.close()
        assert frame is not None and frame.size == (768, 576)

    # `gridwatch cameras test`, with the password in the environment.
    tested = CliRunner().invoke(
        cli, ["cameras", "test", f"rtsp://admin:${{CAM_PASS}}@127.0.0.1:{port}/cam"]
    )
    assert tested.exit_code == 0, tested.output
    assert f"ok  rtsp://***@127.0.0.1:{port}/cam" in tested.output
    assert password not in tested.output

    # The API's connection test (a camera owner; the suite's loopback is allowed) and the
    # camera registered with it.
    owner = accounts.headers("school_owner")
    answer = api_client.post("/api/v1/cameras/test", json={"source": written}, headers=owner)
    assert answer.status_code == 200, answer.text
    assert answer.json()["resolution"] == [768, 576]
    wrong = api_client.post(
        "/api/v1/cameras/test", json={"source": written.replace("s@1@", "s@2@")}, headers=owner
    )
    assert wrong.status_code == 422 and "authentication failed" in wrong.json()["detail"]
    registered = api_client.post(
        "/api/v1/cameras",
        json={**REGISTRATION, "source": written, "stream": {"sub_source": written}},
        headers=owner,
    )
    assert registered.status_code == 201, registered.text
    listed = api_client.get("/api/v1/cameras", headers=owner)
    for shown in (answer.text, wrong.text, registered.text, listed.text):
        assert password not in shown and "p%2Fa" not in shown
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert password not in logged and "p%2Fa" not in logged
