"""The owners' connection test as an attacker uses it (issue 13, kinds 3, 5 and 7): a way to
read the server's files, to make it decode a picture bomb, and to map the services around it.
The peers run on loopback; the API's allow-list is empty unless a test says otherwise."""

from __future__ import annotations

import resource
import socket
from collections.abc import Callable, Iterator
from typing import Any

import psutil
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from ingest.images import ImageTooLarge, check_image_size
from tests.conftest import Accounts, seed_accounts
from tests.security.peers import SilentPort, WebServer, closed_port, png_bomb

TEST = "/api/v1/cameras/test"


@pytest.fixture
def web() -> Iterator[WebServer]:
    server = WebServer()
    yield server
    server.close()


@pytest.fixture
def strict_client(
    database_url: str, settings_factory: Callable[..., Settings]
) -> Iterator[TestClient]:
    """The API as shipped outside the test suite: no network allowed to owners' tests."""
    settings = settings_factory(database_url, camera_test_allowed_networks=[])
    with TestClient(create_app(settings)) as client:
        seed_accounts(client.app, names=("admin", "school_owner"))
        yield client


def _test(client: TestClient, user: str, source: str, **fields: Any) -> Any:
    body = {"source": source, "timeout_s": 3, **fields}
    return client.post(TEST, json=body, headers=Accounts(client).headers(user))


# Kind 3: the file:// refusal decides on the parsed scheme.
@pytest.mark.parametrize(
    "source",
    [
        " file:///etc/passwd",
        "\tfile:///etc/passwd",
        "\n\x0bFILE:///etc/passwd ",
        "File:/etc/passwd",
        "fi\tle:///etc/passwd",
        "ftp://127.0.0.1/x",
        "/etc/passwd",
    ],
)
def test_an_owner_reads_no_local_file_however_the_address_is_written(
    api_client: TestClient, accounts: Accounts, source: str
) -> None:
    owner = accounts.headers("school_owner")
    tested = api_client.post(TEST, json={"source": source}, headers=owner)
    assert tested.status_code == 422
    assert "passwd" not in tested.json()["detail"].replace(source.strip(), "")
    registered = api_client.post(
        "/api/v1/cameras",
        json={
            "id": "cam-x",
            "name": "x",
            "source": source,
            "location": {"lat": 30.2, "lon": 120.1},
        },
        headers=owner,
    )
    assert registered.status_code == 422, registered.text
    sub_stream = api_client.patch(
        "/api/v1/cameras/school-no1-gate",
        json={"source": "rtsp://10.0.0.7/main", "stream": {"sub_source": source}},
        headers=owner,
    )
    assert sub_stream.status_code == 422, sub_stream.text


def test_an_address_is_stored_as_it_is_parsed(api_client: TestClient, accounts: Accounts) -> None:
    registered = api_client.post(
        "/api/v1/cameras",
        json={
            "id": "cam-y",
            "name": "y",
            "source": " \trtsp://10.0.0.7/main\n",
            "location": {"lat": 30.2, "lon": 120.1},
        },
        headers=accounts.headers("school_owner"),
    )
    assert registered.status_code == 201, registered.text
    assert registered.json()["source"] == "rtsp://10.0.0.7/main"


# Kind 5: image bombs are refused from their header.
@pytest.mark.usefixtures("accounts")
@pytest.mark.parametrize("path", ["/bomb.png", "/bomb.mjpg"])
def test_a_picture_bomb_is_refused_before_it_is_decoded(
    api_client: TestClient, web: WebServer, path: str
) -> None:
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB
    owner = _test(api_client, "school_owner", web.url(path))
    assert owner.status_code == 422 and owner.json()["detail"]
    admin = _test(api_client, "admin", web.url(path))
    assert admin.status_code == 422
    assert "16000x16000" in admin.json()["detail"] and "not decoded" in admin.json()["detail"]
    # Decoding it would have taken 768 MB (16000 x 16000 x 3 bytes) at least once.
    growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    assert growth_mb < 300


def test_the_limit_counts_pixels_from_the_header() -> None:
    picture = png_bomb(1000)
    check_image_size("gate", picture, max_pixels=1_000_000)
    with pytest.raises(ImageTooLarge, match="1000x1000 pixels, more than the 999999 allowed"):
        check_image_size("gate", picture, max_pixels=999_999)
    check_image_size("gate", b"not a picture")  # left to the decoder, which says so


# Kind 7: the connection test is no map of the server's neighbourhood.
def _own_address() -> str:
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family == socket.AF_INET and not address.address.startswith("127."):
                return str(address.address)
    pytest.fail("this machine has no non-loopback IPv4 address")


def test_owners_reach_no_loopback_link_local_or_server_address(
    strict_client: TestClient, web: WebServer
) -> None:
    port = web.server_port
    refused = [
        web.url("/snapshot.jpg"),
        web.url("/snapshot.jpg", host="localhost"),
        f"http://[::1]:{port}/snapshot.jpg",
        f"http://[::ffff:127.0.0.1]:{port}/snapshot.jpg",
        f"http://0.0.0.0:{port}/snapshot.jpg",
        "http://169.254.169.254/latest/meta-data/",
        f"rtsp://{_own_address()}:{port}/stream",
        f"onvif://127.0.0.1:{port}",
        f"http://2130706433:{port}/snapshot.jpg",  # 127.0.0.1 written as one number
    ]
    for source in refused:
        response = _test(strict_client, "school_owner", source)
        assert response.status_code == 422, source
        assert "loopback, link-local or this server's own address" in response.json()["detail"]
    assert web.paths == []  # nothing was even asked
    # An administrator (who may also test file:// recordings) is not limited.
    assert _test(strict_client, "admin", web.url("/snapshot.jpg")).status_code == 200


def test_an_allowed_network_is_reachable(
    database_url: str, settings_factory: Callable[..., Settings], web: WebServer
) -> None:
    settings = settings_factory(database_url, camera_test_allowed_networks=["127.0.0.0/8"])
    with TestClient(create_app(settings)) as client:
        seed_accounts(client.app, names=("school_owner",))
        response = _test(client, "school_owner", web.url("/snapshot.jpg"))
        assert response.status_code == 200, response.text
        assert response.json()["resolution"] == [320, 240]


@pytest.mark.usefixtures("accounts")
def test_redirects_are_followed_on_the_same_host_only(
    api_client: TestClient, web: WebServer
) -> None:
    same = _test(api_client, "school_owner", web.url("/same-host"))
    assert same.status_code == 200, same.text
    elsewhere = _test(api_client, "admin", web.url("/elsewhere"))
    assert elsewhere.status_code == 422
    assert "redirects to another host" in elsewhere.json()["detail"]
    # The other host (the same server, named localhost) was never asked.
    after = web.paths[web.paths.index("/elsewhere") :]
    assert "/snapshot.jpg" not in after


@pytest.mark.usefixtures("accounts")
def test_an_owners_failure_does_not_describe_what_answers(
    api_client: TestClient, web: WebServer
) -> None:
    silent = SilentPort()
    try:
        sources = [
            f"http://127.0.0.1:{closed_port()}/snapshot.jpg",
            f"http://127.0.0.1:{silent.port}/snapshot.jpg",
            web.url("/admin"),
            web.url("/missing"),
            f"rtsp://127.0.0.1:{web.server_port}/stream",
        ]
        details = set()
        for source in sources:
            response = _test(api_client, "school_owner", source, timeout_s=1)
            assert response.status_code == 422, source
            details.add(response.json()["detail"].removeprefix(source + ": "))
    finally:
        silent.close()
    assert len(details) == 1, details
    (detail,) = details
    assert "no camera stream could be opened" in detail


@pytest.mark.usefixtures("accounts")
def test_onvif_at_a_plain_web_server_is_a_4xx_with_a_reason(
    api_client: TestClient, web: WebServer
) -> None:
    for user in ("admin", "school_owner"):
        response = _test(api_client, user, f"onvif://127.0.0.1:{web.server_port}")
        assert 400 <= response.status_code < 500, response.text
        assert response.json()["detail"]


@pytest.mark.usefixtures("accounts")
@pytest.mark.parametrize("source", ["rtsp://[", "http://[::1", "http://xn--/", "onvif://"])
def test_an_address_that_does_not_parse_is_a_422(api_client: TestClient, source: str) -> None:
    for user in ("admin", "school_owner"):
        response = _test(api_client, user, source)
        assert response.status_code == 422, (user, response.text)
        assert response.json()["detail"]
