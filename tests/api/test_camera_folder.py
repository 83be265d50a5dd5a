"""One invalid file in the API's camera folder refuses that camera only: the API starts with the
others, and admins see the file, field and reason."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from tests.conftest import REPO, Accounts, seed_accounts

SAMPLES = {"hospital-east-entrance", "public-square-north", "school-no1-gate", "urban-works-west"}


def folder_with_bad_files(tmp_path: Path) -> Path:
    folder = tmp_path / "cameras"
    folder.mkdir()
    for sample in (REPO / "camera_configs").glob("*.yaml"):
        shutil.copy(sample, folder / sample.name)
    # A rule on a zone the camera does not have, an unknown field, and a file that is not YAML.
    school = (folder / "school_gate.yaml").read_text()
    (folder / "bad_zone.yaml").write_text(
        school.replace("id: school-no1-gate", "id: school-no2-gate").replace(
            "zone: gate_path", "zone: playground"
        )
    )
    (folder / "typo.yaml").write_text(
        school.replace("id: school-no1-gate", "id: school-no3-gate") + "colour: red\n"
    )
    (folder / "broken.yaml").write_text("id: [unclosed\n")
    return folder


def test_the_api_starts_with_the_good_cameras_and_shows_the_refused_files(
    database_url: str, settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    folder = folder_with_bad_files(tmp_path)
    app = create_app(settings_factory(database_url, camera_configs=folder))
    with TestClient(app) as client:
        seed_accounts(app, names=("admin", "district_operator"))
        accounts = Accounts(client)
        admin = accounts.headers("admin")
        cameras = client.get("/api/v1/cameras", headers=admin).json()
        assert {camera["id"] for camera in cameras} == SAMPLES

        response = client.get("/api/v1/camera-files/refused", headers=admin)
        assert response.status_code == 200, response.text
        refused = {
            (Path(item["file"]).name, item["field"]): item["reason"] for item in response.json()
        }
        assert set(refused) == {
            ("bad_zone.yaml", "rules.0.zone"),
            ("typo.yaml", "colour"),
            ("broken.yaml", "line 2, column 1"),
        }, refused
        assert "playground" in refused[("bad_zone.yaml", "rules.0.zone")]
        assert "not valid YAML" in refused[("broken.yaml", "line 2, column 1")]
        # Each also says why as a code with its parameters, for the console to word.
        coded = {
            Path(item["file"]).name: (item["type"], item["params"]) for item in response.json()
        }
        assert coded == {
            "bad_zone.yaml": ("zone_unknown", {"zone": "playground", "known": "gate_path"}),
            "typo.yaml": ("extra_forbidden", {}),
            "broken.yaml": ("yaml_invalid", {"line": 2, "column": 1}),
        }
        # Only admins are shown the API's files.
        operator = accounts.headers("district_operator")
        assert client.get("/api/v1/camera-files/refused", headers=operator).status_code == 403
