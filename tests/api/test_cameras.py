"""Owners register and change cameras; workers fetch them; health and video-loss events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.health import mark_silent_cameras
from api.models import Camera
from tests.api.helpers import WORKER
from tests.conftest import Accounts

GATE = {
    "id": "school-north-gate",
    "name": "North gate",
    "source": "rtsp://admin:s3cret-pass@127.0.0.1:8554/north",
    "location": {"lat": 30.256, "lon": 120.121},
    "zones": [{"name": "gate", "polygon": [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]]}],
    "rules": [{"kind": "intrusion", "zone": "gate", "classes": ["person"]}],
}


def register(client: TestClient, accounts: Accounts, user: str = "school_owner", **changes):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/cameras", json={**GATE, **changes}, headers=accounts.headers(user))


def test_an_owner_registers_a_camera_whose_password_never_comes_back(
    api_client: TestClient, accounts: Accounts
) -> None:
    created = register(api_client, accounts)
    assert created.status_code == 201, created.text
    camera = created.json()
    assert camera["organisation"]["id"] == "no1-primary-school"
    assert camera["grid_id"] == "D01-T01-C01-G01"
    assert camera["source"] == "rtsp://***@127.0.0.1:8554/north"
    for path in (
        "/api/v1/cameras",
        "/api/v1/cameras/school-north-gate",
        "/api/v1/cameras/school-north-gate/config.yaml",
    ):
        assert "s3cret" not in api_client.get(path, headers=accounts.headers("school_owner")).text
    # At rest the address is encrypted, not merely hidden.
    with api_client.app.state.session_factory() as session:
        row = session.get(Camera, "school-north-gate")
        assert row is not None and row.source_encrypted and "s3cret" not in row.source_encrypted
        assert "s3cret" not in str(row.config)
    exported = yaml.safe_load(
        api_client.get(
            "/api/v1/cameras/school-north-gate/config.yaml",
            headers=accounts.headers("school_owner"),
        ).text
    )
    assert (
        exported["rules"][0]["kind"] == "intrusion"
        and exported["organisation"]["kind"] == "education"
    )


def test_workers_get_the_real_address_and_notice_changes(
    api_client: TestClient, accounts: Accounts
) -> None:
    register(api_client, accounts)
    feed = api_client.get("/api/v1/worker/cameras", headers=WORKER)
    assert feed.status_code == 200
    cameras = {c["id"]: c for c in feed.json()["cameras"]}
    assert cameras["school-north-gate"]["source"] == GATE["source"]
    # File cameras keep their ${VAR} references for the worker to expand.
    assert cameras["school-no1-gate"]["source"] == "file://${GRIDWATCH_DATA_DIR}/vtest.avi"
    etag = feed.headers["etag"]
    assert (
        api_client.get(
            "/api/v1/worker/cameras", headers={**WORKER, "If-None-Match": etag}
        ).status_code
        == 304
    )

    changes = {"name": "North gate (night)", "detect": {"fps": 1}}
    patched = api_client.patch(
        "/api/v1/cameras/school-north-gate", json=changes, headers=accounts.headers("school_owner")
    )
    assert patched.status_code == 200, patched.text
    after = api_client.get("/api/v1/worker/cameras", headers={**WORKER, "If-None-Match": etag})
    assert after.status_code == 200
    changed = {c["id"]: c for c in after.json()["cameras"]}["school-north-gate"]
    assert (changed["name"], changed["detect"]["fps"]) == ("North gate (night)", 1)
    assert changed["source"] == GATE["source"]  # unchanged by a patch that did not name it

    assert (
        api_client.delete(
            "/api/v1/cameras/school-north-gate", headers=accounts.headers("school_owner")
        ).status_code
        == 204
    )
    remaining = {
        c["id"] for c in api_client.get("/api/v1/worker/cameras", headers=WORKER).json()["cameras"]
    }
    assert "school-north-gate" not in remaining
    assert (
        api_client.get(
            "/api/v1/cameras/school-north-gate", headers=accounts.headers("admin")
        ).status_code
        == 404
    )
    assert (
        api_client.get("/api/v1/worker/cameras", headers=accounts.headers("admin")).status_code
        == 403
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"zones": []}, "rules.0.zone: unknown zone 'gate'"),
        ({"location": {"lat": 91, "lon": 120}}, "location.lat"),
        ({"source": "ftp://x/y"}, "source: scheme 'ftp'"),
        ({"source": "file:///etc/passwd"}, "file:// recordings are for administrators"),
        ({"source": "rtsp://${GRIDWATCH_WORKER_TOKEN}@evil/"}, "references are for administrators"),
        ({"colour": "red"}, "colour: unknown field"),
    ],
)
def test_bad_registrations_say_which_field_and_why(
    api_client: TestClient, accounts: Accounts, changes: dict, message: str
) -> None:
    response = register(api_client, accounts, **changes)
    assert response.status_code == 422
    assert message in response.json()["detail"]


def test_owners_touch_only_their_own_cameras(api_client: TestClient, accounts: Accounts) -> None:
    assert (
        register(
            api_client, accounts, user="works_owner", organisation_id="no1-primary-school"
        ).status_code
        == 403
    )
    assert register(api_client, accounts, user="west_operator").status_code == 403
    assert register(api_client, accounts).status_code == 201
    assert register(api_client, accounts).status_code == 409
    other = api_client.patch(
        "/api/v1/cameras/school-north-gate",
        json={"name": "x"},
        headers=accounts.headers("works_owner"),
    )
    assert other.status_code == 404
    admin = register(
        api_client,
        accounts,
        user="admin",
        id="admin-cam",
        organisation_id="urban-management-bureau",
    )
    assert (
        admin.status_code == 201 and admin.json()["organisation"]["id"] == "urban-management-bureau"
    )


def test_a_camera_dark_past_the_grace_period_opens_one_video_loss_event(
    api_client: TestClient, accounts: Accounts
) -> None:
    start = datetime.now(UTC)

    def report(status: str, **fields) -> None:  # type: ignore[no-untyped-def]
        body = {"status": status, **fields}
        response = api_client.put(
            "/api/v1/cameras/school-no1-gate/health", json=body, headers=WORKER
        )
        assert response.status_code == 204, response.text

    def video_loss_events() -> list[dict]:
        page = api_client.get(
            "/api/v1/events", params={"category": "device_fault"}, headers=accounts.headers("admin")
        )
        return page.json()["items"]

    report("online", fps=10.0, resolution=[768, 576], codec="h264")
    report(
        "offline", offline_since=(start - timedelta(seconds=10)).isoformat(), error="stream lost"
    )
    assert video_loss_events() == []  # within the 60 s grace
    lost = start - timedelta(seconds=90)
    report("offline", offline_since=lost.isoformat(), reason="stream_lost", error="stream lost")
    earlier = (start - timedelta(seconds=95)).isoformat()
    report("offline", offline_since=earlier, reason="stream_lost", error="stream lost")
    (event,) = video_loss_events()
    # Written in the reader's language from the reason's code, the worker's words the detail,
    # the time in the camera's zone, named.
    name = "No.1 Primary School, main gate path"
    local = lost.astimezone(ZoneInfo("Asia/Shanghai"))
    assert event["title"] == f"视频中断 — {name}" and event["camera_id"] == "school-no1-gate"
    assert event["description"] == (
        f"摄像头「{name}」自 {local:%Y-%m-%d %H:%M:%S} (Asia/Shanghai) 起无画面："
        "视频流中断。详情：stream lost。"
    )
    english = api_client.get(
        f"/api/v1/events/{event['id']}",
        headers={**accounts.headers("admin"), "Accept-Language": "en"},
    ).json()
    assert english["title"] == f"Video loss — {name}"
    assert english["description"] == (
        f"Camera {name} has had no picture since {local:%Y-%m-%d %H:%M:%S} (Asia/Shanghai):"
        " the stream broke off. Detail: stream lost."
    )
    health = api_client.get(
        "/api/v1/cameras/school-no1-gate/health", headers=accounts.headers("school_owner")
    ).json()
    assert health["status"] == "offline" and health["health"]["error"] == "stream lost"
    assert (health["status_reason"], health["status_error"]) == ("stream_lost", "stream lost")

    report("online", fps=10.0)
    detail = api_client.get(
        f"/api/v1/events/{event['id']}", headers=accounts.headers("admin")
    ).json()
    assert detail["history"][-1]["action"] == "recover"
    assert detail["status"] == "closed"  # nobody had acted on it: the fault is over
    report("online", fps=10.0)
    detail = api_client.get(
        f"/api/v1/events/{event['id']}", headers=accounts.headers("admin")
    ).json()
    assert [s["action"] for s in detail["history"]].count("recover") == 1
    # The next outage is a new event.
    later = (datetime.now(UTC) - timedelta(seconds=120)).isoformat()
    report("offline", offline_since=later, error="stream lost")
    assert len(video_loss_events()) == 2


def test_each_outage_of_a_flapping_camera_opens_its_own_video_loss_event(
    api_client: TestClient, accounts: Accounts
) -> None:
    """A camera back from one outage and lost again is a second outage, even while nobody has
    closed the first one's event yet."""

    def report(status: str, **fields) -> None:  # type: ignore[no-untyped-def]
        response = api_client.put(
            "/api/v1/cameras/school-no1-gate/health", json={"status": status, **fields},
            headers=WORKER,
        )  # fmt: skip
        assert response.status_code == 204, response.text

    def video_loss_events() -> list[dict]:
        page = api_client.get(
            "/api/v1/events", params={"category": "device_fault"}, headers=accounts.headers("admin")
        )
        return sorted(page.json()["items"], key=lambda event: event["id"])

    def recoveries(event: dict) -> int:
        detail = api_client.get(
            f"/api/v1/events/{event['id']}", headers=accounts.headers("admin")
        ).json()
        return [step["action"] for step in detail["history"]].count("recover")

    now = datetime.now(UTC)
    for outage, lost_s_ago in enumerate((300, 120), start=1):
        report("online", fps=10.0)
        report("offline", offline_since=(now - timedelta(seconds=lost_s_ago)).isoformat())
        report("offline", offline_since=(now - timedelta(seconds=lost_s_ago)).isoformat())
        assert len(video_loss_events()) == outage
        report("online", fps=10.0)
    first, second = video_loss_events()
    # Nobody had acted on either: each closed itself when the picture came back.
    assert first["status"] == second["status"] == "closed"
    assert recoveries(first) == 1 and recoveries(second) == 1


def test_an_outage_is_dated_from_its_earliest_known_start(
    api_client: TestClient, accounts: Accounts
) -> None:
    """A worker restarted mid-outage knows only a later start, and one whose clock is ahead
    of the API's would date it in the future: neither moves the outage's start."""

    def report(status: str, **fields) -> None:  # type: ignore[no-untyped-def]
        response = api_client.put(
            "/api/v1/cameras/school-no1-gate/health", json={"status": status, **fields},
            headers=WORKER,
        )  # fmt: skip
        assert response.status_code == 204, response.text

    def since() -> datetime:
        health = api_client.get(
            "/api/v1/cameras/school-no1-gate/health", headers=accounts.headers("admin")
        ).json()
        return datetime.fromisoformat(health["status_since"])

    now = datetime.now(UTC)
    report("online", fps=10.0)
    report("offline", offline_since=(now + timedelta(minutes=5)).isoformat(), error="lost")
    assert since() <= datetime.now(UTC)
    first = now - timedelta(seconds=20)
    report("offline", offline_since=first.isoformat(), error="stream lost")
    report("offline", offline_since=(now - timedelta(seconds=5)).isoformat(), error="refused")
    assert since() == first


def test_cameras_nobody_reports_on_go_offline(api_client: TestClient, accounts: Accounts) -> None:
    response = api_client.put(
        "/api/v1/cameras/urban-works-west/health", json={"status": "online"}, headers=WORKER
    )
    assert response.status_code == 204
    with api_client.app.state.session_factory() as session:
        later = datetime.now(UTC) + timedelta(minutes=5)
        opened = mark_silent_cameras(
            session, api_client.app.state.policy, grace=timedelta(seconds=60), now=later
        )
        assert [event.camera_id for event in opened] == ["urban-works-west"]
        status = session.scalar(select(Camera.status).where(Camera.id == "urban-works-west"))
        assert status == "offline"
        assert (
            mark_silent_cameras(
                session, api_client.app.state.policy, grace=timedelta(seconds=60), now=later
            )
            == []
        )
