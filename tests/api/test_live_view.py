"""Live view: viewers register, workers learn it from their health report and send pictures,
users in scope see the newest one with its capture time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from api.liveview import MAX_PICTURE_AGE_S, LiveViews
from contract.live_view import CAPTURED_AT_HEADER, LIVE_VIEW_HEADER, MAX_LIVE_PICTURE_BYTES
from tests.api.helpers import WORKER
from tests.conftest import Accounts
from tests.factories import jpeg

CAMERA = "school-no1-gate"  # a school camera in grid D01-T01-C01-G01 (west)


def put_picture(
    client: TestClient, picture: bytes, *, taken: datetime | None = None, **headers: str
):  # type: ignore[no-untyped-def]
    taken = taken or datetime.now(UTC)
    return client.put(
        f"/api/v1/cameras/{CAMERA}/live.jpg",
        content=picture,
        headers={
            **WORKER,
            "Content-Type": "image/jpeg",
            CAPTURED_AT_HEADER: taken.isoformat(),
            **headers,
        },
    )


def report_health(client: TestClient):  # type: ignore[no-untyped-def]
    response = client.put(
        f"/api/v1/cameras/{CAMERA}/health", json={"status": "online"}, headers=WORKER
    )
    assert response.status_code == 204, response.text
    return response


def test_a_picture_is_kept_and_served_only_while_someone_watches(
    api_client: TestClient, accounts: Accounts
) -> None:
    operator = accounts.headers("west_operator")
    assert LIVE_VIEW_HEADER not in report_health(api_client).headers
    # Nobody watches: the worker is told to stop and nothing is kept.
    answer = put_picture(api_client, jpeg(shade=10))
    assert answer.status_code == 200 and answer.json() == {"live_view_s": 0}
    assert api_client.get(f"/api/v1/cameras/{CAMERA}/live.jpg", headers=operator).status_code == 404

    grant = api_client.post(f"/api/v1/cameras/{CAMERA}/live-view", headers=operator)
    assert grant.status_code == 200, grant.text
    assert grant.json()["camera_id"] == CAMERA and 9 <= grant.json()["watched_s"] <= 10
    assert grant.json()["picture_url"].endswith(f"/api/v1/cameras/{CAMERA}/live.jpg")
    assert 0 < float(report_health(api_client).headers[LIVE_VIEW_HEADER]) <= 10

    taken = datetime.now(UTC) - timedelta(seconds=0.5)
    picture = jpeg(shade=200)
    answer = put_picture(api_client, picture, taken=taken)
    assert answer.status_code == 200 and 0 < answer.json()["live_view_s"] <= 10
    served = api_client.get(f"/api/v1/cameras/{CAMERA}/live.jpg", headers=operator)
    assert served.status_code == 200 and served.content == picture
    assert served.headers["content-type"] == "image/jpeg"
    assert served.headers["cache-control"] == "no-store"
    captured = datetime.fromisoformat(served.headers[CAPTURED_AT_HEADER])
    assert abs((captured - taken).total_seconds()) < 0.01
    assert 0.4 <= float(served.headers["X-GridWatch-Picture-Age-S"]) < 5

    # A late request with an older frame does not replace the newer picture.
    assert put_picture(api_client, jpeg(shade=50), taken=taken - timedelta(seconds=1)).is_success
    again = api_client.get(f"/api/v1/cameras/{CAMERA}/live.jpg", headers=operator)
    assert again.content == picture


def test_only_users_who_may_see_the_camera_watch_it(
    api_client: TestClient, accounts: Accounts
) -> None:
    for user in ("works_owner", "school_worker", "education_handler"):
        headers = accounts.headers(user)
        assert (
            api_client.post(f"/api/v1/cameras/{CAMERA}/live-view", headers=headers).status_code
            == 404
        )
        assert (
            api_client.get(f"/api/v1/cameras/{CAMERA}/live.jpg", headers=headers).status_code == 404
        )
    for user in ("school_owner", "east_operator", "admin"):
        headers = accounts.headers(user)
        assert (
            api_client.post(f"/api/v1/cameras/{CAMERA}/live-view", headers=headers).status_code
            == 200
        )
    assert api_client.post(f"/api/v1/cameras/{CAMERA}/live-view").status_code == 401
    # Only workers send pictures.
    refused = api_client.put(
        f"/api/v1/cameras/{CAMERA}/live.jpg", content=jpeg(),
        headers={**accounts.headers("admin"), "Content-Type": "image/jpeg",
                 CAPTURED_AT_HEADER: datetime.now(UTC).isoformat()},
    )  # fmt: skip
    assert refused.status_code in (401, 403)


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"GIF89a not a jpeg", {}, 415),
        (b"\xff\xd8\xff" + b"\0" * (MAX_LIVE_PICTURE_BYTES + 1) + b"\xff\xd9", {}, 413),
        (b"", {}, 422),
        (None, {"Content-Type": "image/png"}, 415),
        (None, {CAPTURED_AT_HEADER: "yesterday"}, 422),
        (None, {CAPTURED_AT_HEADER: "2026-01-01T10:00:00"}, 422),  # no offset
    ],
)
def test_a_picture_that_is_not_a_jpeg_of_reasonable_size_is_refused(
    api_client: TestClient, accounts: Accounts, body: bytes | None, headers: dict, status: int
) -> None:
    api_client.post(f"/api/v1/cameras/{CAMERA}/live-view", headers=accounts.headers("admin"))
    answer = put_picture(api_client, jpeg() if body is None else body, **headers)
    assert answer.status_code == status, answer.text
    assert put_picture(api_client, jpeg(), taken=None).status_code == 200


def test_unknown_cameras_are_refused(api_client: TestClient, accounts: Accounts) -> None:
    admin = accounts.headers("admin")
    assert api_client.post("/api/v1/cameras/no-such/live-view", headers=admin).status_code == 404
    answer = api_client.put(
        "/api/v1/cameras/no-such/live.jpg", content=jpeg(),
        headers={**WORKER, "Content-Type": "image/jpeg",
                 CAPTURED_AT_HEADER: datetime.now(UTC).isoformat()},
    )  # fmt: skip
    assert answer.status_code == 404


def test_a_view_lapses_unless_renewed_and_old_pictures_are_not_shown(tmp_path) -> None:  # type: ignore[no-untyped-def]
    views = LiveViews(tmp_path / "live", view_s=10)
    assert views.watched_s("cam", now=1000.0) == 0
    assert views.watch("cam", now=1000.0) == 10
    assert views.watched_s("cam", now=1004.0) == 6
    assert views.watch("cam", now=1004.0) == 10  # renewed
    assert views.watched_s("cam", now=1013.0) == 1
    assert views.watched_s("cam", now=1014.5) == 0

    # Another process sharing the folder sees the same viewers and pictures.
    other = LiveViews(tmp_path / "live", view_s=10)
    assert other.watched_s("cam", now=1010.0) == 4
    taken = datetime.now(UTC)
    views.store("cam", jpeg(), taken)
    shown = other.latest("cam", now=taken + timedelta(seconds=1))
    assert shown is not None and shown.jpeg == jpeg()
    assert other.latest("cam", now=taken + timedelta(seconds=MAX_PICTURE_AGE_S + 1)) is None
