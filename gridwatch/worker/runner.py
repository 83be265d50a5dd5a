"""The runner: watches the cameras it is given, hands their newest frames to the detection
threads, keeps the incidents in the outbox the moment their rules conclude and their clips once
recorded and encoded, and reports health and figures.

Capture never waits for detection. The main loop hands the newest frames of the cameras, in
turn, to a few detection threads (one per core by default): the model runs on frames of
different cameras at once, while each camera's frames are analysed one at a time and in order,
as its tracker and rules need.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from contract.camera import CameraConfig
from contract.live_view import LIVE_PICTURE_INTERVAL_S
from detectors.alarms import ClassAlarm
from detectors.incident import Incident, IncidentClip
from detectors.pipeline import CameraPipeline
from gridwatch.camera_events import CameraEventWatcher
from gridwatch.feed import CameraFeed, HealthReporter
from gridwatch.live_view import LivePictureSender
from gridwatch.outbox import IncidentSender, Outbox
from gridwatch.worker.capture import CameraReader, health_report
from gridwatch.worker.scheduling import ClipEncoder, DetectionThreads
from ingest import CameraHealth, CameraStatus, Frame

if TYPE_CHECKING:
    from gridwatch.worker.assemble import CameraAssembly

log = logging.getLogger(__name__)


class NothingWatched(RuntimeError):
    """The worker was given cameras and watches none of them: each was refused when set up, or
    gave up for good (an address no adapter can open). Not retried: the configuration must
    change. The message names each camera and why."""


@dataclass
class WatchedCamera:
    """One camera being watched: its configuration, reader thread (which holds its frame for
    detection), stop switch, detection pipeline, custom models' alarms and ONVIF event watcher."""

    config: CameraConfig
    reader: CameraReader
    stop: threading.Event
    pipeline: CameraPipeline
    alarms: list[ClassAlarm]
    events: CameraEventWatcher | None = None


@dataclass
class Worker:
    """Runs every enabled camera through detection and hands incidents to the outbox as soon
    as their rules conclude, with their snapshots; each clip follows once its post-roll is
    recorded and it is encoded on a thread of its own, and goes to the outbox to be attached
    to its incident.

    What watches each camera comes from `assembly` (see `CameraAssembly`), which also says how
    many frames are analysed at once.

    The cameras come as a fixed list, or from a feed (camera files watched for changes, or the
    API's leases) polled every `feed_interval_s`: cameras added, changed or removed there are
    started, restarted or stopped without restarting the worker.

    Each camera's health goes to `health_reporter` every `health_interval_s`, and at once (within
    `health_check_s`) when its status changes.

    With `live_pictures`, the newest frame taken for detection of each camera someone watches
    live is sent to the API about once a second, on a thread of its own.

    With `require_cameras` (cameras from files), `run` raises `NothingWatched` when none of
    the cameras it was given can be watched; a worker leasing from the API waits for cameras.
    """

    cameras: list[CameraConfig]
    assembly: CameraAssembly
    outbox: Outbox
    sender: IncidentSender | None
    feed: CameraFeed | None = None
    feed_interval_s: float = 10.0
    health_reporter: HealthReporter | None = None
    health_interval_s: float = 10.0
    health_check_s: float = 0.25
    live_pictures: LivePictureSender | None = None
    require_cameras: bool = False
    stop: threading.Event = field(default_factory=threading.Event)
    inference_ms: list[float] = field(default_factory=list)
    encoder: ClipEncoder | None = None
    watched: dict[str, WatchedCamera] = field(default_factory=dict)
    _detection: DetectionThreads | None = None
    _turn: int = 0
    _newest: dict[str, Frame] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)  # camera id -> why it is not watched
    _taken_at: dict[str, float] = field(default_factory=dict)  # time.monotonic() of each's last

    @property
    def readers(self) -> list[CameraReader]:
        return [watched.reader for watched in self.watched.values()]

    def apply(self, cameras: list[CameraConfig], frame_ready: threading.Event) -> None:
        """Watch exactly `cameras` (the enabled ones): start new, restart changed, stop gone."""
        wanted = {camera.id: camera for camera in cameras if camera.enabled}
        for camera in cameras:
            if not camera.enabled and camera.id not in self.watched:
                log.info("%s: disabled, not watched", camera.id)
        for camera_id, watched in list(self.watched.items()):
            if wanted.get(camera_id) != watched.config:
                log.info(
                    "%s: %s; stopping it",
                    camera_id,
                    "changed" if camera_id in wanted else "no longer ours",
                )
                self._stop_watching(camera_id)
        for camera_id, camera in wanted.items():
            if camera_id in self.watched:
                continue
            try:
                watched = self.assembly.watch(camera, frame_ready, self._keep_one)
            except Exception as err:
                log.exception("%s: detection could not be set up; camera not watched", camera_id)
                self.refused[camera_id] = f"detection could not be set up: {err}"
                continue
            self.refused.pop(camera_id, None)
            self.watched[camera_id] = watched
            if watched.events is not None:
                watched.events.start()
            watched.reader.start()
        if self.encoder is not None:
            self.encoder.size_for(len(self.watched))
        log.info("watching %d cameras", len(self.watched))

    def _stop_watching(self, camera_id: str) -> None:
        watched = self.watched[camera_id]
        watched.stop.set()
        watched.reader.interrupt()
        watched.reader.join(timeout=10)
        if self._detection is not None:
            self._detection.wait_idle(camera_id)  # its last frame may still be in detection
        del self.watched[camera_id]
        self._newest.pop(camera_id, None)
        self._taken_at.pop(camera_id, None)
        # Clips still being recorded are kept with the frames there are.
        self._keep(camera_id, watched.pipeline.flush(), watched.pipeline.take_clips())

    def run(self, *, max_seconds: float | None = None, drain_s: float = 30.0) -> None:
        """Watch the cameras until stopped, `max_seconds` pass, or every recording has ended."""
        frame_ready = threading.Event()
        threads = []
        self.encoder = ClipEncoder(self._keep_clip)
        self.encoder.start()
        if self.sender is not None:
            threads.append(
                threading.Thread(
                    target=self.sender.run, args=(self.stop,), name="incident-sender", daemon=True
                )
            )
        if self.health_reporter is not None:
            threads.append(
                threading.Thread(target=self._report_health, name="health-reporter", daemon=True)
            )
        if self.live_pictures is not None:
            threads.append(
                threading.Thread(target=self._send_live, name="live-pictures", daemon=True)
            )
        for thread in threads:
            thread.start()
        assert self.assembly.detect_threads is not None
        self._detection = detection = DetectionThreads(
            self.assembly.detect_threads, self._analyse, frame_ready
        )
        initial = self.cameras
        if self.feed is not None:
            initial = self.feed.poll() or []
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        last_report = time.monotonic()
        try:
            self.apply(initial, frame_ready)
            next_poll = time.monotonic() + self.feed_interval_s
            if self.require_cameras and initial and not self.watched:
                raise NothingWatched(self._why_nothing_watched())
            while not self.stop.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    break
                frame_ready.wait(0.5)
                frame_ready.clear()
                if self.feed is not None and self.feed.lapsed():
                    # Not one more frame: another worker may hold these cameras by now.
                    self.apply([], frame_ready)
                busy = self._dispatch(detection)
                self._end_broken_clips(detection)
                if self.feed is not None and time.monotonic() >= next_poll:
                    next_poll = time.monotonic() + self.feed_interval_s
                    changed = self.feed.poll()
                    if changed is not None:
                        self.apply(changed, frame_ready)
                elif (
                    self.feed is None
                    and not busy
                    and all(w.reader.finished.is_set() for w in self.watched.values())
                    and not any(w.reader.waiting for w in self.watched.values())
                ):
                    if self.require_cameras and all(
                        w.reader.stats.status == "offline" for w in self.watched.values()
                    ):
                        raise NothingWatched(self._why_nothing_watched())
                    break
                if time.monotonic() - last_report >= 30:
                    self.log_stats()
                    last_report = time.monotonic()
        finally:
            self.stop.set()
            for watched in self.watched.values():
                watched.stop.set()
                watched.reader.interrupt()
            for watched in self.watched.values():
                watched.reader.join(timeout=10)
            for thread in threads:
                thread.join(timeout=10)
            if self.feed is not None:
                self.feed.close()
            detection.close()
            # Clips still being recorded are kept with the frames there are.
            for camera_id, watched in self.watched.items():
                self._keep(camera_id, watched.pipeline.flush(), watched.pipeline.take_clips())
            self.encoder.close()
            if self.sender is not None and self.outbox.pending():
                delivered_all = self.sender.drain(drain_s)
                if not delivered_all:
                    log.warning(
                        "%d incidents and %d clips stay in the outbox %s and will be sent at"
                        " next start",
                        self.outbox.pending_incidents(), self.outbox.pending_clips(),
                        self.outbox.path,
                    )  # fmt: skip
            self.log_stats()

    def _why_nothing_watched(self) -> str:
        reasons = dict(self.refused)
        for camera_id, watched in self.watched.items():
            reasons[camera_id] = watched.reader.stats.last_error or watched.reader.stats.status
        listed = "; ".join(f"{camera_id}: {why}" for camera_id, why in sorted(reasons.items()))
        return f"no camera is watched ({listed or 'none enabled'})"

    def _dispatch(self, detection: DetectionThreads) -> bool:
        """Hand the cameras' newest frames to free detection threads, taking the cameras in
        turn so that none waits behind the others; True while there is detection work.
        """
        watched = list(self.watched.values())
        for step in range(len(watched)):
            if detection.free() <= 0:
                break
            index = (self._turn + step) % len(watched)
            camera = watched[index]
            if detection.busy(camera.config.id):
                continue
            frame = camera.reader.take()
            if frame is None:
                continue
            self._newest[camera.config.id] = frame
            self._taken_at[camera.config.id] = time.monotonic()
            detection.submit(camera.reader, frame)
            self._turn = index + 1
        return detection.busy() or any(w.reader.waiting for w in watched)

    def _end_broken_clips(self, detection: DetectionThreads) -> None:
        """A camera whose stream has given no frame for longer than a clip may span has the
        incidents and clips it was recording completed now, with the frames before the break:
        they reach the API at once instead of waiting for the stream (and spanning its gap).

        Only the dispatcher (this thread) hands a camera's frames to detection, so a camera not
        in detection now stays out of it while its pipeline is completed here.
        """
        now = time.monotonic()
        for camera_id, watched in list(self.watched.items()):
            pipeline = watched.pipeline
            taken = self._taken_at.get(camera_id)
            if not pipeline.pending or taken is None or detection.busy(camera_id):
                continue
            if now - taken <= pipeline.evidence.max_gap_s:
                continue
            log.info(
                "%s: no frame for %.1f s; %d incidents' evidence completed with what there is",
                camera_id, now - taken, pipeline.pending,
            )  # fmt: skip
            self._keep(camera_id, pipeline.break_in_stream(), pipeline.take_clips())

    def _report_health(self) -> None:
        """Report every camera's health each `health_interval_s`, and a camera whose status
        changed as soon as that is seen (looked at every `health_check_s`): a camera lost or
        back reaches the API then, not at the next round."""
        assert self.health_reporter is not None
        accepted: dict[str, str] = {}  # camera id -> the status the API last took
        next_round = time.monotonic()
        while not self.stop.is_set():
            now = time.monotonic()
            full = now >= next_round
            if full:
                next_round = now + self.health_interval_s
            watching = list(self.watched.items())
            for gone in accepted.keys() - dict(watching).keys():
                del accepted[gone]  # a camera watched again is reported afresh
            reports = {}
            for camera_id, watched in watching:
                try:
                    health = watched.reader.health()
                except Exception:
                    log.exception("%s: health could not be read", camera_id)
                    continue
                if health.status is CameraStatus.offline and health.offline_since is None:
                    continue  # not tried yet: nothing to say
                report = health_report(health, watched.pipeline.stats)
                if full or accepted.get(camera_id) != report["status"]:
                    reports[camera_id] = report
            if reports:
                answered = self.health_reporter.report(reports)
                for camera_id in answered:
                    accepted[camera_id] = reports[camera_id]["status"]
                if len(answered) < len(reports):
                    # The API could not be reached: changes wait for the next round.
                    self.stop.wait(max(0.0, next_round - time.monotonic()))
                    continue
            self.stop.wait(max(0.0, min(self.health_check_s, next_round - time.monotonic())))

    def _send_live(self) -> None:
        """About once a second, send each watched camera's newest frame, if it is new, with
        the camera's privacy masks blacked out as in all evidence."""
        assert self.live_pictures is not None
        sent: dict[str, int] = {}
        while not self.stop.wait(LIVE_PICTURE_INTERVAL_S):
            for camera_id in self.live_pictures.demand.watched():
                frame = self._newest.get(camera_id)
                watched = self.watched.get(camera_id)
                if watched is None or frame is None:
                    continue
                if sent.get(camera_id) == frame.sequence:
                    continue  # no newer frame since the last picture (a slow or stalled camera)
                masked = replace(frame, image=watched.pipeline.privacy_mask.apply(frame.image))
                self.live_pictures.send(masked)
                sent[camera_id] = frame.sequence

    def _analyse(self, reader: CameraReader, frame: Frame) -> None:
        watched = self.watched[reader.camera.id]
        pipeline = watched.pipeline
        try:
            incidents = pipeline.process(frame.image, now=frame.timestamp, clock=frame.monotonic)
        except Exception:
            # One bad frame or rule must not take the other cameras down with it.
            log.exception("%s: detection failed on frame %d", reader.camera.id, frame.sequence)
            return
        if pipeline.stats.last_inference_ms:
            self.inference_ms.append(pipeline.stats.last_inference_ms)
            pipeline.stats.last_inference_ms = 0.0
        del self.inference_ms[:-1000]
        reader.stats.frames_analysed += 1
        reader.scene_observed(
            pipeline.last_decision,
            busy=pipeline.pending > 0,
            at=time.monotonic() if frame.monotonic is None else frame.monotonic,
        )
        for alarm in watched.alarms:
            try:
                incidents += alarm.process(frame.image, now=frame.timestamp, clock=frame.monotonic)
            except Exception:
                log.exception("%s: model %s failed", reader.camera.id, alarm.model_name)
                pipeline.stats.rule_failures[f"model:{alarm.model_name}"] += 1
        self._keep(reader.camera.id, incidents, pipeline.take_clips())

    def _keep(
        self, camera_id: str, incidents: list[Incident], clips: Sequence[IncidentClip] = ()
    ) -> None:
        """Keep the incidents at once, and the clips once encoded (on the encoder's thread
        while it runs)."""
        for incident in incidents:
            self._keep_one(incident.with_clip())
        for clip in clips:
            if self.encoder is not None and self.encoder.is_alive():
                self.encoder.submit(clip)
            else:
                try:
                    ready = clip.with_video()
                except Exception:
                    log.exception("%s: clip of incident %s failed", camera_id, clip.incident_id)
                    continue
                self._keep_clip(ready)

    def _keep_one(self, incident: Incident) -> None:
        if self.feed is not None and incident.lease_epoch is None:
            # The fencing token: the API refuses it once another worker took the camera.
            incident = replace(incident, lease_epoch=self.feed.lease_epoch(incident.camera_id))
        reader = next((r for r in self.readers if r.camera.id == incident.camera_id), None)
        if self.outbox.put(incident):
            if reader is not None:
                reader.stats.incidents += 1
            log.info("%s: incident %s (%s)", incident.camera_id, incident.id, incident.summary)

    def _keep_clip(self, clip: IncidentClip) -> None:
        if self.outbox.put_clip(clip):
            log.info(
                "%s: clip of incident %s (%.1f s, %d frames)",
                clip.camera_id, clip.incident_id, clip.duration_s, clip.frame_count,
            )  # fmt: skip

    def close(self) -> None:
        """Release what the worker was given to talk to: the sender, the health reporter and the
        outbox (after `run` has returned)."""
        if self.sender is not None:
            self.sender.close()
        if self.health_reporter is not None:
            self.health_reporter.close()
        if self.live_pictures is not None:
            self.live_pictures.close()
        self.outbox.close()

    def health(self) -> list[CameraHealth]:
        """Every watched camera's health now."""
        return [watched.reader.health() for watched in self.watched.values()]

    def log_stats(self) -> None:
        for reader in self.readers:
            stats = reader.stats
            health = reader.health()
            log.info(
                "%s: %s%s, %s fps in, read %d, analysed %d, dropped %d, incidents %d,"
                " reconnects %d",
                reader.camera.id, health.status.value,
                f" ({health.reason})" if health.reason else "",
                "-" if health.input_fps is None else f"{health.input_fps:.1f}",
                stats.frames_read, stats.frames_analysed, health.frames_dropped,
                stats.incidents, health.reconnects,
            )  # fmt: skip
        for camera_id, watched in self.watched.items():
            counts = watched.pipeline.stats
            if counts.frames:
                log.info(
                    "%s: model ran on %d of %d frames (motion gate saved %.0f%%)",
                    camera_id, counts.inferred, counts.frames, 100 * counts.skipped / counts.frames,
                )  # fmt: skip
            if counts.rule_failures or counts.size_changes:
                log.warning(
                    "%s: rules failed on frames %s; picture size changed %d times (latest %s)",
                    camera_id, dict(counts.rule_failures) or "never", counts.size_changes,
                    counts.last_size_change or "-",
                )  # fmt: skip
        if self.inference_ms:
            ordered = sorted(self.inference_ms)
            log.info(
                "inference median %.1f ms over %d frames", ordered[len(ordered) // 2], len(ordered)
            )
