"""The `gridwatch` command line: serve the API, run a worker, check configs, run the demo."""

from __future__ import annotations

import copy
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import httpx
import typer

from contract.addresses import mask_credentials
from contract.camera import default_data_dir, expand_source
from contract.loading import load_cameras
from contract.problems import ConfigError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from api.models import User

app = typer.Typer(help="GridWatch: camera incidents in, grid events out.", no_args_is_help=True)
assets_app = typer.Typer(help="Model weights and demo footage.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
users_app = typer.Typer(help="Accounts.", no_args_is_help=True)
tokens_app = typer.Typer(
    help="API tokens for other systems and remote workers.", no_args_is_help=True
)
app.add_typer(assets_app, name="assets")
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")

# Accounts `gridwatch run` creates in development so the demo can be explored at once.
DEMO_ACCOUNTS: dict[str, dict[str, object]] = {
    "admin": {"role": "admin", "full_name": "Demo administrator"},
    "operator": {"role": "operator", "region_id": "D01", "full_name": "District command center"},
    "school": {"role": "camera_owner", "organisation_id": "no1-primary-school",
               "full_name": "No.1 Primary School security office"},
    "gridworker": {"role": "grid_worker", "grid_ids": ["D01-T01-C01-G01"],
                   "full_name": "Grid worker, west street south grid 1"},
    "education": {"role": "handler", "department_id": "education-bureau",
                  "full_name": "Education bureau duty desk"},
}  # fmt: skip
DEMO_PASSWORD_DEFAULT = "gridwatch-demo"  # noqa: S105 - development demo only, refused elsewhere
cameras_app = typer.Typer(help="Cameras on the network: find and test them.", no_args_is_help=True)
app.add_typer(cameras_app, name="cameras")

log = logging.getLogger("gridwatch")


LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def _logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format=LOG_FORMAT,
        stream=sys.stderr,
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)


@app.command("check-config")
def check_config(
    paths: Annotated[list[Path], typer.Argument(help="Camera YAML files or folders of them.")],
) -> None:
    """Validate camera files; print every problem with file, field and reason (exit 1 if any)."""
    try:
        cameras = load_cameras(paths)
    except ConfigError as err:
        for problem in err.problems:
            typer.echo(str(problem), err=True)
        typer.echo(f"{len(err.problems)} problem(s) found", err=True)
        raise typer.Exit(1) from None
    for camera in cameras:
        typer.echo(f"ok  {camera.id}  ({camera.organisation.kind.value}, {camera.masked_source()})")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="API processes sharing the address (uvicorn workers); more than one needs"
            " PostgreSQL.",
        ),
    ] = 1,
) -> None:
    """Run the API (settings from GRIDWATCH_* variables); applies migrations first."""
    import uvicorn
    from sqlalchemy.engine import make_url

    from api.settings import get_settings

    if workers > 1 and make_url(get_settings().database_url).get_backend_name() == "sqlite":
        # One SQLite file has one writer, and live alerts and the situation locks of
        # several processes meet only in PostgreSQL (LISTEN/NOTIFY, advisory locks).
        typer.echo("error: --workers above 1 needs PostgreSQL (GRIDWATCH_DATABASE_URL)", err=True)
        raise typer.Exit(2)
    _logging()
    log_config = _uvicorn_log_config(worker_access_log=get_settings().worker_access_log)
    uvicorn.run(
        "api.app:create_app", factory=True, host=host, port=port, log_level="info",
        workers=workers, log_config=log_config,
    )  # fmt: skip


class WorkerRequestsFilter(logging.Filter):
    """Keeps uvicorn's request lines of workers' lease renewals and health reports out of the
    log (GRIDWATCH_WORKER_ACCESS_LOG): uvicorn gives each line its (client, method, path,
    HTTP version, status) as arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        arguments = record.args
        if not isinstance(arguments, tuple) or len(arguments) < 3:
            return True
        from api.middleware import is_worker_heartbeat

        return not is_worker_heartbeat(str(arguments[1]), str(arguments[2]).split("?", 1)[0])


def _uvicorn_log_config(*, worker_access_log: bool = False) -> dict[str, Any]:
    """Uvicorn's logging with GridWatch's own lines added, as each API process (each worker of
    `serve --workers`) configures it for itself; without workers' routine requests in the
    access log unless `worker_access_log`."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    if not worker_access_log:
        config.setdefault("filters", {})["worker_requests"] = {"()": WorkerRequestsFilter}
        config["handlers"]["access"]["filters"] = ["worker_requests"]
    config["formatters"]["gridwatch"] = {"format": LOG_FORMAT}
    config["handlers"]["gridwatch"] = {
        "class": "logging.StreamHandler",
        "formatter": "gridwatch",
        "stream": "ext://sys.stderr",
    }
    config["root"] = {"level": "INFO", "handlers": ["gridwatch"]}
    config["loggers"]["httpx"] = {"level": "WARNING"}
    return config


@app.command()
def worker(
    cameras: Annotated[
        list[Path], typer.Option("--cameras", help="Camera YAML files or folders.")
    ] = [  # noqa: B006
        Path("camera_configs")
    ],
    camera_id: Annotated[
        list[str] | None, typer.Option("--camera", help="Only these camera ids (repeatable).")
    ] = None,
    once: Annotated[bool, typer.Option(help="Play recordings once instead of looping.")] = False,
    fast: Annotated[
        bool, typer.Option(help="Read recordings as fast as possible, not at their own pace.")
    ] = False,
    max_seconds: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
    from_api: Annotated[
        bool,
        typer.Option(
            "--from-api", help="Take cameras from the API's leases (shared with other workers)."
        ),
    ] = False,
    capacity: Annotated[int, typer.Option(help="With --from-api: most cameras to watch.")] = 16,
    verbose: bool = False,
) -> None:
    """Watch cameras and report incidents to the API (durable outbox in between).

    Camera files are read again when they change; with --from-api the API leases cameras to
    this worker and the other workers, and a camera changed there is picked up within seconds.
    Each camera's health is reported to the API.
    """
    from gridwatch.worker.assemble import assemble_worker
    from gridwatch.worker.runner import NothingWatched
    from gridwatch.worker.settings import WorkerSettings

    _logging(verbose)
    settings = WorkerSettings()
    try:
        runner = assemble_worker(
            settings,
            None if from_api else cameras,
            only=set(camera_id) if camera_id else None,
            once=once,
            fast=fast,
            capacity=capacity,
        )
    except ConfigError as err:
        for problem in err.problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(1) from None
    except ValueError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(1) from None
    _stop_on_signals(runner.stop.set)
    try:
        runner.run(max_seconds=max_seconds)
    except NothingWatched as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(1) from None
    finally:
        runner.close()


def _stop_on_signals(stop: object) -> None:
    def handler(signum: int, _frame: object) -> None:
        log.info("signal %d: stopping", signum)
        stop()  # type: ignore[operator]

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


class Transport(StrEnum):
    tcp = "tcp"
    udp = "udp"


@cameras_app.command("test")
def cameras_test(
    url: Annotated[
        str,
        typer.Argument(
            help="Camera address: rtsp://user:pass@host/path, http(s)://... (snapshot or MJPEG)"
            " or file://... ; ${VAR} is taken from the environment, keeping passwords out of"
            " the shell history."
        ),
    ],
    timeout: Annotated[float, typer.Option(help="Seconds allowed for the whole test.")] = 10.0,
    transport: Annotated[Transport, typer.Option(help="RTSP transport.")] = Transport.tcp,
    snapshot: Annotated[
        Path | None, typer.Option("--snapshot", help="Save the first frame here as JPEG.")
    ] = None,
    verbose: bool = False,
) -> None:
    """Connect to a camera once and report what it sends; exit 1 with the reason if it fails."""
    from ingest import IngestError
    from ingest.probe import probe

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        address = expand_source(url)
    except ConfigError as err:
        typer.echo(f"error: {err.problems[0].reason}", err=True)
        raise typer.Exit(1) from None
    try:
        result = probe(address, timeout, transport=transport.value)
    except IngestError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    rows = [
        ("kind", result.kind + (f" ({result.transport})" if result.transport else "")),
        ("resolution", f"{result.width}x{result.height}"),
        ("fps", "on request (snapshots)" if result.fps is None else f"{result.fps:g}"),
        ("codec", result.codec or "unknown"),
        ("first frame", f"{result.time_to_first_frame_s:.2f} s"),
    ]
    if snapshot is not None:
        snapshot.write_bytes(result.snapshot_jpeg)
        rows.append(("snapshot", f"{snapshot} ({len(result.snapshot_jpeg) // 1024} KiB)"))
    typer.echo(f"ok  {mask_credentials(address)}")
    for name, value in rows:
        typer.echo(f"  {name:<12} {value}")


@assets_app.command("fetch")
def assets_fetch() -> None:
    """Fetch the model weights and the demo recording, checking their SHA-256."""
    from gridwatch.assets import AssetError, ensure_all

    _logging()
    try:
        paths = ensure_all(default_data_dir())
    except AssetError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    for name, path in paths.items():
        typer.echo(f"ok  {name}  {path}")


@assets_app.command("quantize")
def assets_quantize(
    frames: Annotated[
        Path | None,
        typer.Option(help="Directory of the district's own frames (JPEG/PNG) to calibrate on."),
    ] = None,
    model: Annotated[str, typer.Option(help="Model whose OpenVINO IR is quantized.")] = "yolov8n",
) -> None:
    """Quantize the OpenVINO IR to INT8 (NNCF) and run the accuracy gate against FP32.

    Calibrates on the demo clip, or on --frames; scores INT8 and FP32 on the labelled sets in
    tests/data, prints the verdict and stores it beside the INT8 model. `backend: auto` runs
    INT8 only when it passed.
    """
    from contract.catalog import MODELS
    from detectors.model import openvino_ir_path
    from gridwatch.assets import AssetError, ensure_all, made_once, sha256_file
    from gridwatch.quantize import (
        QuantizationError,
        clip_frames,
        directory_frames,
        quantize_and_gate,
    )

    _logging()
    if model not in MODELS:
        typer.echo(f"error: --model: unknown model {model!r} ({', '.join(MODELS)})", err=True)
        raise typer.Exit(2)
    try:
        assets = ensure_all(default_data_dir())
        if frames is None:
            calibration, images = "vtest.avi", clip_frames(assets["vtest.avi"])
        else:
            calibration, images = str(frames), directory_frames(frames)
        weights = assets[MODELS[model].weights]
        # Not while another process makes or scores the same INT8 model.
        with made_once(openvino_ir_path(weights, sha256_file(weights), int8=True)):
            result = quantize_and_gate(weights, assets, frames=images, calibration=calibration)
    except (AssetError, QuantizationError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"machine: {result.machine}")
    typer.echo(
        f"calibrated on {result.calibration_frames} frames of {result.calibration} "
        f"in {result.quantize_s:.0f} s"
    )
    typer.echo(result.summary())
    if not result.passed:
        raise typer.Exit(3)


@users_app.command("create")
def users_create(
    username: str,
    role: Annotated[str, typer.Option(help="admin, operator, camera_owner, grid_worker, handler.")],
    password: Annotated[
        str,
        typer.Option(
            prompt=True, hide_input=True, confirmation_prompt=True, envvar="GRIDWATCH_NEW_PASSWORD"
        ),
    ],
    full_name: str = "",
    region: Annotated[str | None, typer.Option(help="Operator: region grid code.")] = None,
    organisation: Annotated[str | None, typer.Option(help="Camera owner: organisation id.")] = None,
    department: Annotated[str | None, typer.Option(help="Handler: department id.")] = None,
    grid: Annotated[
        list[str] | None, typer.Option(help="Grid worker: cell code (repeatable).")
    ] = None,
) -> None:
    """Create an account (the database is migrated first)."""
    from pydantic import ValidationError

    from api import migrate
    from api.accounts import AccountError, create_user
    from api.db import make_engine, session_factory
    from api.schemas import UserCreate
    from api.settings import get_settings

    engine = make_engine(get_settings().database_url)
    migrate.upgrade(engine)
    try:
        request = UserCreate(
            username=username, password=password, role=role, full_name=full_name, region_id=region,
            organisation_id=organisation, department_id=department, grid_ids=grid or [],
        )  # fmt: skip
        with session_factory(engine)() as session:
            user = create_user(session, request)
    except (ValidationError, AccountError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"created {user.role} {user.username} (id {user.id})")


def _account_session() -> Session:
    """A session on the configured database, migrated first."""
    from api import migrate
    from api.db import make_engine, session_factory
    from api.settings import get_settings

    engine = make_engine(get_settings().database_url)
    migrate.upgrade(engine)
    return session_factory(engine)()


def _account(session: Session, username: str) -> User:
    from sqlalchemy import select

    from api.models import User

    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        typer.echo(f"error: no account {username!r}", err=True)
        raise typer.Exit(1)
    return user


@users_app.command("password")
def users_password(
    username: str,
    password: Annotated[
        str,
        typer.Option(
            prompt="New password",
            hide_input=True,
            confirmation_prompt=True,
            envvar="GRIDWATCH_NEW_PASSWORD",
            help="At least 10 characters.",
        ),
    ],
) -> None:
    """Set an account's password; every access token issued before stops working."""
    from pydantic import ValidationError

    from api.accounts import update_account
    from api.schemas import UserUpdate

    try:
        UserUpdate(password=password)
    except ValidationError as err:
        typer.echo(f"error: password: {err.errors()[0]['msg']}", err=True)
        raise typer.Exit(1) from None
    with _account_session() as session:
        user = _account(session, username)
        update_account(session, user, active=None, password=password, by=None)
    typer.echo(f"password of {username} changed; its sessions ended")


@users_app.command("disable")
def users_disable(username: str) -> None:
    """Disable an account: it cannot log in, and its access tokens and live alerts stop."""
    from api.accounts import update_account

    with _account_session() as session:
        update_account(session, _account(session, username), active=False, password=None, by=None)
    typer.echo(f"{username} disabled")


@users_app.command("enable")
def users_enable(username: str) -> None:
    """Enable a disabled account again (it logs in anew)."""
    from api.accounts import update_account

    with _account_session() as session:
        update_account(session, _account(session, username), active=True, password=None, by=None)
    typer.echo(f"{username} enabled")


@tokens_app.command("issue")
def tokens_issue(
    name: Annotated[str, typer.Argument(help="The system that uses it, e.g. hotline-12345.")],
    scope: Annotated[
        list[str],
        typer.Option(
            help="What it may do (repeatable): open311, incidents:write, or worker (camera"
            " credentials; only for a GridWatch worker)."
        ),
    ],
) -> None:
    """Issue an API token; it is printed once (only its digest is kept)."""
    from api.accounts import AccountError, issue_api_token

    with _account_session() as session:
        try:
            issued, token = issue_api_token(session, name, scope)
        except AccountError as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"issued token {issued.id} {issued.name} ({', '.join(issued.scopes)}):")
    typer.echo(token)


@tokens_app.command("list")
def tokens_list() -> None:
    """Every issued token: id, name, scopes, last use, whether revoked."""
    from sqlalchemy import select

    from api.models import ApiToken

    with _account_session() as session:
        for issued in session.scalars(select(ApiToken).order_by(ApiToken.id)):
            used = issued.last_used_at.isoformat(timespec="seconds") if issued.last_used_at else "-"
            state = "revoked" if issued.revoked else "active"
            scopes = ",".join(issued.scopes)
            typer.echo(f"{issued.id:>4}  {issued.name:<24} {scopes:<32} {used:<25} {state}")


@tokens_app.command("revoke")
def tokens_revoke(token_id: int) -> None:
    """Revoke a token from now on."""
    from api.accounts import revoke_api_token

    with _account_session() as session:
        if not revoke_api_token(session, token_id):
            typer.echo(f"error: no token {token_id}", err=True)
            raise typer.Exit(1)
    typer.echo(f"token {token_id} revoked")


def seed_demo_accounts(database_url: str, password: str) -> list[str]:
    """Create the demo accounts that do not exist yet; returns their names."""
    from sqlalchemy import select

    from api.accounts import create_user
    from api.db import make_engine, session_factory
    from api.models import User
    from api.schemas import UserCreate

    engine = make_engine(database_url)
    created = []
    with session_factory(engine)() as session:
        existing = set(session.scalars(select(User.username)))
        for username, scope in DEMO_ACCOUNTS.items():
            if username not in existing:
                create_user(session, UserCreate(username=username, password=password, **scope))
                created.append(username)
    engine.dispose()
    return created


@app.command("eval")
def evaluate(
    labels: Annotated[Path, typer.Argument(help="Labels JSON (tests/data/*.json).")],
    backend: Annotated[
        str, typer.Option(help="auto, openvino-int8, openvino, onnx or pytorch.")
    ] = "auto",
    motion: Annotated[bool, typer.Option(help="Use the motion gate.")] = True,
) -> None:
    """Score a rule on a labelled clip, or the detector on labelled photos."""
    import json

    from contract.camera import DetectConfig
    from gridwatch.assets import ensure_all
    from gridwatch.evaluation import evaluate_clip, evaluate_photos, ultralytics_photo
    from gridwatch.machine import describe
    from gridwatch.worker.assemble import DetectorPool

    document = json.loads(labels.read_text(encoding="utf-8"))
    assets = ensure_all(default_data_dir())
    detector = DetectorPool(default_data_dir()).get(DetectConfig(backend=backend))
    typer.echo(f"machine: {describe()}")
    typer.echo(f"model: {detector.name} ({detector.version}, {detector.backend})")
    if "photos" in document:
        photos = {
            photo["asset"]: assets.get(photo["asset"]) or ultralytics_photo(photo["asset"])
            for photo in document["photos"]
        }
        result = evaluate_photos(labels, photos, detector, confidence=0.4)
        for photo, classes in result.per_photo.items():
            counts = ", ".join(
                f"{name} {found}/{expected}" for name, (expected, found) in classes.items()
            )
            typer.echo(f"  {photo}: {counts}  (found/labelled)")
        typer.echo(
            f"photos: precision {result.precision:.2f}, recall {result.recall:.2f} "
            f"({result.matched} of {result.labelled} labelled objects, {result.detected} found)"
        )
        return
    clip = assets[document["clip"]]
    run = evaluate_clip(labels, clip, detector, motion_gate=motion)
    zone = document["zone"]["name"]
    typer.echo(
        f"{document['rule']['kind']} on zone {zone} of {document['clip']} "
        f"({document['duration_s']} s at {document['detect_fps']} fps, tolerance "
        f"{document['tolerance_s']} s): {run.score.summary()}"
    )
    typer.echo(
        f"model ran on {run.inferred} of {run.frames} frames; {run.seconds:.1f} s "
        f"({run.frames / run.seconds:.1f} frames/s)"
    )


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations up to the newest schema."""
    from api import migrate
    from api.db import make_engine
    from api.settings import get_settings

    _logging()
    migrate.upgrade(make_engine(get_settings().database_url))
    typer.echo("database is up to date")


@app.command()
def run(
    host: Annotated[str, typer.Option(help="Address the API binds.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port the API listens on.")] = 8000,
) -> None:
    """The demo: API and one worker on SQLite, the camera_configs/ cameras on the demo clip."""
    from gridwatch.assets import AssetError, ensure_all

    _logging()
    try:
        ensure_all(default_data_dir())
    except AssetError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    environment = dict(os.environ)
    environment.setdefault("GRIDWATCH_API_URL", f"http://{host}:{port}")
    # One machine: a camera owner trying it out tests cameras served on this machine too.
    environment.setdefault("GRIDWATCH_CAMERA_TEST_ALLOWED_NETWORKS", '["127.0.0.0/8", "::1/128"]')
    command = [sys.executable, "-m", "gridwatch"]
    stopping = threading.Event()
    # Explicit handlers: a shell may start this in the background with SIGINT ignored.
    _stop_on_signals(stopping.set)
    api = subprocess.Popen(
        [*command, "serve", "--host", host, "--port", str(port)], env=environment
    )
    processes = {"API": api}
    try:
        if not _wait_healthy(f"http://{host}:{port}/healthz", api, stopping):
            if not stopping.is_set():
                typer.echo("error: the API did not start; see its log above", err=True)
                raise typer.Exit(1)
            return
        log.info("API up at http://%s:%d (console at /console/, docs at /docs)", host, port)
        _demo_accounts()
        processes["worker"] = subprocess.Popen([*command, "worker"], env=environment)
        while not stopping.is_set() and all(p.poll() is None for p in processes.values()):
            stopping.wait(0.5)
    finally:
        # The worker first, so its last incidents still reach the API.
        for process in reversed(processes.values()):
            if process.poll() is None:
                process.terminate()
            try:
                process.wait(timeout=45)
            except subprocess.TimeoutExpired:
                process.kill()
    failed = [name for name, process in processes.items() if process.returncode not in (0, -15)]
    if failed and not stopping.is_set():
        typer.echo(f"error: the {' and the '.join(failed)} stopped unexpectedly", err=True)
        raise typer.Exit(1)


def _demo_accounts() -> None:
    from api.settings import get_settings

    settings = get_settings()
    if settings.environment != "development":
        return
    password = os.environ.get("GRIDWATCH_DEMO_PASSWORD", DEMO_PASSWORD_DEFAULT)
    created = seed_demo_accounts(settings.database_url, password)
    if created:
        log.info("demo accounts created: %s (password %r)", ", ".join(created), password)
    log.info("log in: curl -d username=operator -d password=... http://<api>/api/v1/auth/token")


def _wait_healthy(
    url: str,
    process: subprocess.Popen[bytes],
    stopping: threading.Event,
    report_every_s: float = 30,
) -> bool:
    """Wait until the API at `url` answers healthy: True; False once `process` has exited (it
    says why in its log) or `stopping` is set. No deadline of its own: on a busy machine the
    first start (imports, the database's migrations) can take minutes, and a slow start is not
    a failed one; it says so every `report_every_s`."""
    started = time.monotonic()
    reported = started
    while not stopping.is_set():
        if process.poll() is not None:
            return False
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        if time.monotonic() - reported >= report_every_s:
            reported = time.monotonic()
            log.info("the API is still starting (%.0f s); Ctrl-C stops", reported - started)
        time.sleep(0.3)
    return False


@cameras_app.command("discover")
def cameras_discover(
    timeout: Annotated[float, typer.Option(help="Seconds to wait for answers.", min=0.1)] = 3.0,
    interface: Annotated[
        str | None, typer.Option(help="IPv4 address of the interface to probe from.")
    ] = None,
) -> None:
    """Find ONVIF cameras on the local network (WS-Discovery); print address, model and scopes."""
    from ingest.discovery import discover

    try:
        cameras = discover(timeout, interface=interface)
    except OSError as err:
        typer.echo(f"error: cannot probe the network: {err.strerror or err}", err=True)
        raise typer.Exit(1) from None
    for camera in cameras:
        typer.echo(
            f"{camera.onvif_url}  model={camera.model or '-'}  name={camera.name or '-'}"
            f"  xaddrs={' '.join(camera.xaddrs) or '-'}"
        )
        for scope in camera.scopes:
            typer.echo(f"    {scope}")
    typer.echo(f"{len(cameras)} camera(s) answered within {timeout:g} s", err=True)


@app.command("gb28181")
def gb28181(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    """Serve GB/T 28181 devices over SIP (UDP and TCP): registration, keep-alive, catalog,
    device information, alarms, and live video INVITEd for the workers through the stream
    control (HTTP, loopback by default).

    Settings come from GRIDWATCH_GB28181_* (host, port, sip_id, domain, password, timezone,
    keepalive_interval_s, keepalive_missed, control_host, control_port); devices and alarms are
    reported to the API at GRIDWATCH_API_URL with GRIDWATCH_WORKER_TOKEN, like a worker's
    reports, devices' own passwords come from it, and the stream control takes the same token;
    see the README.
    """
    import asyncio
    import signal

    from pydantic import ValidationError

    from gridwatch.api_client import ApiClient
    from gridwatch.gb28181.media import MediaSettings
    from gridwatch.gb28181.reporting import ApiReporter
    from gridwatch.gb28181.service import Gb28181Settings, serve
    from gridwatch.worker.settings import WorkerSettings

    _logging(verbose)
    try:
        settings = Gb28181Settings()
        media = MediaSettings()
        worker = WorkerSettings()
    except ValidationError as err:
        for problem in err.errors():
            field = ".".join(str(p) for p in problem["loc"]) or "settings"
            typer.echo(f"error: GRIDWATCH_GB28181_{field.upper()}: {problem['msg']}", err=True)
        raise typer.Exit(2) from None
    api = ApiClient(
        worker.api_url, worker.worker_token.get_secret_value(), worker_name="gb28181", timeout=10
    )
    reporter = ApiReporter(api)

    async def until_signalled() -> None:
        # SIGTERM (a service manager's stop) and SIGINT end the service in order: open streams
        # get their BYE, so devices stop sending to the workers' ports.
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await serve(settings, reporter, stop=stop, media=media, control_token=worker.worker_token)

    try:
        asyncio.run(until_signalled())
    except OSError as err:
        typer.echo(
            f"error: cannot listen on {settings.host}:{settings.port} (SIP) or"
            f" {media.control_host}:{media.control_port} (stream control): {err}",
            err=True,
        )
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        pass
    finally:
        reporter.close()


def main() -> None:
    app()
