"""The rows name every evidence file the API writes: snapshots, clips, photos, model weights."""

from __future__ import annotations

import hashlib
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.evidence import PARTIAL_PREFIX, EvidenceError, store, stored_files
from api.models import CustomModel
from detectors.evidence import encode_mp4, sha256_hex
from tests.api.helpers import WORKER
from tests.conftest import Accounts
from tests.factories import incident_form, incident_metadata, jpeg

T0 = datetime(2026, 11, 27, 22, 30, tzinfo=UTC)


def report_with_clip(client: TestClient) -> dict[str, object]:
    frames = [np.full((96, 128, 3), shade, dtype=np.uint8) for shade in range(0, 250, 50)]
    clip = encode_mp4(frames, [T0 + timedelta(seconds=i / 2) for i in range(len(frames))])
    snapshot = jpeg(shade=70)
    metadata = incident_metadata(
        snapshot, detected_at=T0, clip_sha256=sha256_hex(clip), clip_started_at=T0.isoformat(),
        clip_duration_s=2.5,
    )  # fmt: skip
    form = incident_form(metadata, snapshot)
    form["files"]["clip"] = ("clip.mp4", clip, "video/mp4")
    response = client.post("/api/v1/incidents", headers=WORKER, **form)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_every_file_in_the_evidence_directory_is_named_by_a_row_with_its_digest(
    api_client: TestClient, accounts: Accounts
) -> None:
    event = report_with_clip(api_client)
    snapshot = jpeg(shade=20)  # a plain report: a snapshot and no clip
    plain = api_client.post(
        "/api/v1/incidents", headers=WORKER, **incident_form(incident_metadata(snapshot), snapshot)
    )
    assert plain.status_code == 201, plain.text
    photo = api_client.post(
        f"/api/v1/events/{event['id']}/actions/comment",
        headers=accounts.headers("admin"),
        data={"note": "seen from the square"},
        files=[("photos", ("p.jpg", jpeg(shade=200), "image/jpeg"))],
    )
    assert photo.status_code == 200, photo.text
    settings = api_client.app.state.settings  # type: ignore[attr-defined]
    root: Path = settings.evidence_dir
    weights = b"weights of a district's own model"
    digest = hashlib.sha256(weights).hexdigest()
    (root / "models").mkdir(parents=True, exist_ok=True)
    (root / "models" / f"{digest}.pt").write_bytes(weights)
    with api_client.app.state.session_factory() as session:  # type: ignore[attr-defined]
        session.add(
            CustomModel(
                name="ward-fall", weights_sha256=digest, weights_path=f"models/{digest}.pt",
                class_names=["Normal", "Fall"], class_codes={"Fall": "0901"},
                registered_by="admin",
            )
        )  # fmt: skip
        session.commit()
        files = list(stored_files(session))

    kinds = sorted(file.kind for file in files)
    assert kinds == ["attachment", "clip", "snapshot", "snapshot", "weights"]
    on_disk = {
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if path.is_file() and not path.name.startswith(PARTIAL_PREFIX)
    }
    assert on_disk == {file.path for file in files}
    for file in files:
        assert hashlib.sha256((root / file.path).read_bytes()).hexdigest() == file.sha256, file
    (clip,) = [file for file in files if file.kind == "clip"]
    assert clip.owner == f"incident {event['incident']['id']}"  # type: ignore[index]
    assert clip.path.endswith(".mp4")


def test_a_stored_file_makes_its_folder_when_missing_and_leaves_no_partial_file(
    tmp_path: Path,
) -> None:
    """The day's folder is made by the first file of the day, and again if it went away since;
    a write that fails leaves neither the file nor its partial copy behind."""
    payload = jpeg(shade=40) * 20  # larger than one write may take
    first = store(tmp_path, Path("2026/11/30/first.jpg"), payload)
    assert first.read_bytes() == payload
    assert stored_day_files(tmp_path) == ["first.jpg"]

    shutil.rmtree(tmp_path / "2026")  # an admin's clean-up between two incidents
    again = store(tmp_path, Path("2026/11/30/again.jpg"), payload)
    assert again.read_bytes() == payload

    (tmp_path / "2027").write_bytes(b"a file where the year's folder must go")
    with pytest.raises(EvidenceError, match="evidence could not be stored"):
        store(tmp_path, Path("2027/01/01/refused.jpg"), payload)

    (tmp_path / "2026/11/30/taken.jpg").mkdir()  # the rename itself fails
    with pytest.raises(EvidenceError):
        store(tmp_path, Path("2026/11/30/taken.jpg"), payload)
    assert stored_day_files(tmp_path) == ["again.jpg", "taken.jpg"]


def stored_day_files(root: Path) -> list[str]:
    """Every name in 2026/11/30, partial copies included."""
    return sorted(path.name for path in (root / "2026/11/30").iterdir())
