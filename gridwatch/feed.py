"""Where a worker learns which cameras to watch: camera files, or the API's leases.

A feed is polled now and then; it answers the whole list of cameras when it may have changed,
or None to say "keep what you have" (nothing changed, or the answer could not be had).
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path
from typing import Any, Protocol

import httpx
from pydantic import ValidationError

from contract.camera import CameraConfig
from contract.live_view import LIVE_VIEW_HEADER
from contract.loading import camera_files, load_cameras
from contract.problems import ConfigError
from gridwatch.api_client import ApiClient, ApiError, ApiRefused
from gridwatch.live_view import LiveDemand

log = logging.getLogger(__name__)


class CameraFeed(Protocol):
    def poll(self) -> list[CameraConfig] | None: ...

    def lapsed(self) -> bool:
        """True once, when the cameras may no longer be watched (their lease ran out)."""
        ...

    def lease_epoch(self, camera_id: str) -> int | None:
        """The epoch of the lease under which `camera_id` is watched; None without leases."""
        ...

    def close(self) -> None: ...


class FileFeed:
    """Camera files on disk, read again whenever one is added, removed or changed."""

    def __init__(self, paths: list[Path], *, only: set[str] | None = None):
        self.paths = paths
        self.only = only
        self._signature: tuple[tuple[str, float, int], ...] | None = None

    def _current_signature(self) -> tuple[tuple[str, float, int], ...]:
        signature = []
        for path in camera_files(self.paths):
            try:
                stat = path.stat()
            except OSError:
                continue
            signature.append((str(path), stat.st_mtime, stat.st_size))
        return tuple(sorted(signature))

    def poll(self) -> list[CameraConfig] | None:
        signature = self._current_signature()
        if signature == self._signature:
            return None
        try:
            cameras = load_cameras(self.paths)
        except ConfigError as err:
            # A half-edited file must not stop the cameras that are running: keep them.
            log.error("camera files not reloaded, keeping the running cameras:\n%s", err)
            self._signature = signature
            return None
        self._signature = signature
        return [c for c in cameras if self.only is None or c.id in self.only]

    def lapsed(self) -> bool:
        return False  # camera files are not leased

    def lease_epoch(self, camera_id: str) -> int | None:
        return None

    def close(self) -> None:
        return None


class ApiLeaseFeed:
    """The cameras the API leases to this worker; every poll is also the lease heartbeat.

    `renew_s` is how often the worker polls (its `feed_interval_s`); it is checked against the
    lease time the API grants, since a worker renewing less often loses its cameras between
    renewals.

    A renewal sends the version of each camera configuration this worker has (`held`), and the
    API sends back only the configurations that changed or are new to it: a renewal that
    changes nothing carries no configuration and no credential. A configuration the worker
    refuses (it does not validate) is remembered in its version too, so it is not sent again
    until it changes.

    A lease runs out on this worker's clock `lease_s` after the last renewal that succeeded was
    sent, less `LAPSE_MARGIN` of the lease time (clock drift, the API's own delay): the API
    cannot have given the cameras to another worker before then. Once it has run out without a
    renewal, `lapsed()` says so and the cameras must stop (see api.leases, fencing); the next
    renewal that succeeds hands them back, under a new epoch.
    """

    LAPSE_MARGIN = 0.1

    path = "/api/v1/worker/leases"

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        worker_name: str,
        capacity: int,
        renew_s: float | None = None,
        client: httpx.Client | None = None,
    ):
        self.api = ApiClient(api_url, token, worker_name=worker_name, timeout=10, client=client)
        self.capacity = capacity
        self.renew_s = renew_s
        self.lease_s: float | None = None
        self.epochs: dict[str, int] = {}
        # The configurations held, camera id to (version, configuration; None if refused); None
        # while no camera is watched (before the first grant, after the leases lapsed).
        self._held: dict[str, tuple[str, CameraConfig | None]] | None = None
        # When (time.monotonic()) the leases lapse without another renewal; None before the
        # first one.
        self.runs_out: float | None = None

    @property
    def versions(self) -> dict[str, str]:
        """The version of each configuration this worker has, as it sends them (`held`)."""
        held = self._held or {}
        return {camera_id: version for camera_id, (version, _) in held.items() if version}

    def poll(self) -> list[CameraConfig] | None:
        sent = time.monotonic()
        try:
            grant = self.api.call(
                "POST", self.path, json={"capacity": self.capacity, "held": self.versions}
            )
        except ApiError as err:
            if self.lapsed():
                return []
            if self._held is None:
                log.warning("camera leases not renewed (%s); no camera is watched", err)
                return None
            # Keep watching until the leases run out: what is recorded until then is this
            # worker's to report, and waits in the outbox while the API cannot be reached.
            log.warning(
                "camera leases not renewed (%s); keeping the running cameras for %.1f s more",
                err, max(0.0, (self.runs_out or sent) - time.monotonic()),
            )  # fmt: skip
            return None
        lease_s = float(grant["lease_s"])
        self.runs_out = sent + lease_s * (1 - self.LAPSE_MARGIN)
        self.epochs = {str(k): int(v) for k, v in grant.get("epochs", {}).items()}
        if self.renew_s is not None and self.renew_s >= lease_s and self.lease_s != lease_s:
            log.warning(
                "leases are renewed every %g s but last %g s: cameras will be lost between"
                " renewals; set GRIDWATCH_LEASE_RENEW_S well under the lease time",
                self.renew_s, lease_s,
            )  # fmt: skip
        self.lease_s = lease_s
        held = self._merge(grant)
        if held == self._held:
            return None
        self._held = held
        return [config for _, config in held.values() if config is not None]

    def _merge(self, grant: dict[str, Any]) -> dict[str, tuple[str, CameraConfig | None]]:
        """What this worker holds after `grant`: the configurations sent, validated, and those
        kept in the version it has; in camera id order."""
        versions: dict[str, str] = {str(k): str(v) for k, v in grant.get("versions", {}).items()}
        previous = self._held or {}
        sent: dict[str, tuple[str, CameraConfig | None]] = {}
        for document in grant["cameras"]:
            camera_id = str(document.get("id"))
            # An API that gives no versions sends every configuration each time.
            version = versions.setdefault(camera_id, "")
            config: CameraConfig | None = None
            kept = previous.get(camera_id)
            if kept is not None and kept[0] == version and version:
                config = kept[1]
            else:
                try:
                    config = CameraConfig.model_validate(document)
                except ValidationError as err:
                    log.error("%s: camera from the API refused: %s", camera_id, err)
            sent[camera_id] = (version, config)
        held: dict[str, tuple[str, CameraConfig | None]] = {}
        for camera_id in sorted(versions):
            if camera_id in sent:
                held[camera_id] = sent[camera_id]
            elif camera_id in previous and previous[camera_id][0] == versions[camera_id]:
                held[camera_id] = previous[camera_id]
            else:
                # Not sent though not had: left out now, asked for whole at the next renewal.
                log.error("%s: leased without its configuration; asking again", camera_id)
        return held

    def lapsed(self) -> bool:
        """True once, when the leases ran out on this worker's clock without a renewal: stop
        every camera now (another worker may hold them already). The epochs stay, for the
        incidents the stopping cameras still conclude with the frames they have."""
        if self.runs_out is None or time.monotonic() < self.runs_out or self._held is None:
            return False
        log.error(
            "camera leases ran out without a renewal; stopping %d cameras until the API"
            " answers again", len(self._held),
        )  # fmt: skip
        self._held = None
        return True

    def lease_epoch(self, camera_id: str) -> int | None:
        return self.epochs.get(camera_id)

    def close(self) -> None:
        """Give the leases back at once, so other workers take the cameras without waiting."""
        try:
            self.api.call("POST", self.path, json={"capacity": 0, "release": True})
        except ApiError as err:
            log.warning("leases not released (%s); they expire by themselves", err)
        self.api.close()


class HealthReporter:
    """Sends each camera's health to the API (PUT /api/v1/cameras/{id}/health)."""

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        worker_name: str,
        live_view: LiveDemand | None = None,
        client: httpx.Client | None = None,
    ):
        self.api = ApiClient(api_url, token, worker_name=worker_name, timeout=5, client=client)
        self.live_view = live_view
        self.sent = 0

    def report(self, reports: dict[str, dict[str, Any]]) -> list[str]:
        """Send each camera's report; the ids of those the API took or refused for good (a
        camera it does not know, a report it will not take), which need not be sent again. The
        answers also say which cameras someone watches live (recorded in `live_view`)."""
        answered = []
        for camera_id, body in reports.items():
            try:
                answer = self.api.request("PUT", f"/api/v1/cameras/{camera_id}/health", json=body)
            except ApiRefused as err:
                if err.status_code != 404:  # a camera the API does not know is not an error here
                    log.warning("%s: health report refused (%d)", camera_id, err.status_code)
                if not err.api_unavailable:
                    answered.append(camera_id)
                continue
            except ApiError as err:
                log.warning("%s: health not reported (%s)", camera_id, err)
                return answered  # the API is down: the next round tries again
            self.sent += 1
            if self.live_view is not None:
                self.live_view.watched_for(
                    camera_id, _seconds(answer.headers.get(LIVE_VIEW_HEADER))
                )
            answered.append(camera_id)
        return answered

    def close(self) -> None:
        self.api.close()


def _seconds(header: str | None) -> float:
    try:
        return max(0.0, float(header)) if header else 0.0
    except ValueError:
        return 0.0


class ApiModelSource:
    """The district's own models, as registered in the API: weights fetched once, checked by
    SHA-256 and kept in the data directory, with each class's event."""

    path = "/api/v1/models"

    def __init__(
        self,
        api_url: str,
        token: str,
        data_dir: Path,
        *,
        worker_name: str = "worker",
        client: httpx.Client | None = None,
    ):
        self.api = ApiClient(api_url, token, worker_name=worker_name, timeout=60, client=client)
        self.folder = data_dir / "custom-models"

    def get(self, name: str) -> tuple[Path, dict[str, Any]]:
        """(weights path, class name -> {code, category, severity, name_en}) of model `name`.

        Raises:
            LookupError: The API has no model of that name.
            ValueError: The weights do not match their SHA-256.
            ApiError: The API could not be asked or refused.
        """
        models = {model["name"]: model for model in self.api.call("GET", self.path)}
        if name not in models:
            raise LookupError(
                f"model {name!r} is not registered ({', '.join(models) or 'none are'})"
            )
        model = models[name]
        target = self.folder / f"{model['weights_sha256']}.pt"
        if not target.is_file():
            _download(
                self.api, model["weights_url"], target, model["weights_sha256"],
                what=f"model {name!r}: weights",
            )  # fmt: skip
        return target, model["class_codes"]

    def close(self) -> None:
        self.api.close()


class ApiExportSource:
    """The catalogue models' exported files (ONNX, OpenVINO IR, INT8 with its accuracy gate) as
    the API serves them, for a worker that runs them without PyTorch: each file fetched once,
    checked by SHA-256 and kept in the data directory under the name it has there on the API's
    side, so `detectors.model.best_backend` and `open_detector` find them beside the weights'
    path."""

    path = "/api/v1/models/exports"

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        worker_name: str = "worker",
        client: httpx.Client | None = None,
    ):
        self.api = ApiClient(api_url, token, worker_name=worker_name, timeout=60, client=client)

    def fetch(self, model: str, folder: Path) -> str:
        """Fetch model `model`'s exported files into `folder` (those missing or damaged);
        return the digest of the weights they were exported from.

        Raises:
            LookupError: The API has no exports of that model.
            ValueError: A file does not match its SHA-256, or its path leaves `folder`.
            ApiError: The API could not be asked or refused.
        """
        exports = {entry["model"]: entry for entry in self.api.call("GET", self.path)}
        if model not in exports:
            raise LookupError(
                f"model {model!r}: the API has no exported files of it "
                f"({', '.join(exports) or 'none'}; made there by `gridwatch assets fetch`)"
            )
        for listed in exports[model]["files"]:
            target = (folder / listed["path"]).resolve()
            if not target.is_relative_to(folder.resolve()):
                raise ValueError(f"model {model!r}: file path {listed['path']!r} leaves {folder}")
            if target.is_file() and _sha256(target) == listed["sha256"]:
                continue
            log.info("fetching %s (%d bytes) from the API", listed["path"], listed["size"])
            _download(
                self.api, listed["url"], target, listed["sha256"],
                what=f"model {model!r}: {listed['path']}",
            )  # fmt: skip
        return str(exports[model]["weights_sha256"])

    def close(self) -> None:
        self.api.close()


def _download(api: ApiClient, url: str, target: Path, sha256: str, *, what: str) -> None:
    """Stream `url` from the API into `target` (created with its folder), checking the bytes
    against the hex `sha256` as they arrive: written to `target` + ".partial" and renamed into
    place only when they match, so a broken or tampered transfer never leaves a file that looks
    whole.

    Raises:
        ValueError: The bytes do not match `sha256` ("`what` does not match its SHA-256").
        ApiError: The API could not be asked or refused.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    digest = hashlib.sha256()
    with api.stream("GET", url) as response, partial.open("wb") as stream:
        for block in response.iter_bytes():
            digest.update(block)
            stream.write(block)
    if digest.hexdigest() != sha256:
        partial.unlink(missing_ok=True)
        raise ValueError(f"{what} does not match its SHA-256")
    partial.replace(target)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
