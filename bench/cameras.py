"""How many cameras one worker sustains: the demo clip served over RTSP as N cameras, each at
1 detect fps, through the real worker and model; a camera counts as sustained when it is
analysed at 95% or more of its configured rate. Each busy camera shows the clip from a different
moment (the clip's length shared out between them), as a district's cameras are not in step;
`--in-step` starts them all at its first frame, so the same people walk into every camera's
zone in the same second and their incidents come in one burst.

With `--static M`, M mostly-static cameras run beside each count of busy ones, in the same
worker: a still street with sensor noise and a person crossing once a minute (made from the
demo clip at the first run), H.264 with a key frame a second, served by a second RTSP server,
each camera a different moment of the minute. Each run then prints busy and static cameras
sustained, the worker's own CPU per camera (this process; the RTSP servers are others, and their
CPU is printed apart), the alert latency from the frame in which a rule concluded to the
incident entering the worker's outbox (whence it is sent), and the load average.

On a shared, loaded machine the sustained counts say more about the neighbours than about the
worker; its own CPU does not. Each run therefore prints the worker's CPU per busy and per
static camera (share of a core per camera, at the camera's detect rate), by stage: decode (the
camera's capture thread), gate, inference (the pipeline's own accounts plus the inference
engine's threads, shared by frames through the model), tracking (and rules), evidence
(snapshots, and the clip encoder shared by incidents) and other (the rest, shared alike); the
cameras of each kind that the machine's cores would carry at that cost; and what the issue's
target mix, 32 busy and 64 static cameras, would take.

`--compare-before` runs each count again without `stream.key_frames_at_detect_rate` (busy
cameras decoded in full), in the same run.

Also the speed-up over what a user would write by hand: one `YOLO(...).predict()` loop per
camera, each reading its own RTSP stream in its own thread.

Each count runs with the worker's detection threads as configured (one per core by default);
`--detect-threads auto,1` also runs the single-thread worker to compare.

Usage: python bench/cameras.py [--counts 4,8,12,16] [--seconds 30] [--fps 1]
                               [--detect-threads auto,1] [--no-plain] [--static 64]
                               [--compare-full] [--compare-before] [--imgsz 640]
                               [--backend auto] [--in-step]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from contract.camera import CameraConfig, default_data_dir  # noqa: E402
from detectors.incident import Incident  # noqa: E402
from gridwatch.assets import ensure_all  # noqa: E402
from gridwatch.machine import describe  # noqa: E402
from gridwatch.outbox import Outbox  # noqa: E402
from gridwatch.worker.assemble import CameraAssembly, DetectorPool  # noqa: E402
from gridwatch.worker.runner import Worker  # noqa: E402
from gridwatch.worker.settings import usable_cores  # noqa: E402
from tests.ingest.peers import CLIP_FPS, RtspServer, encoded_clip, still_scene_clip  # noqa: E402

STATIC_PREFIX = "static-"


def camera(
    index: int,
    url: str,
    fps: float,
    imgsz: int = 640,
    prefix: str = "cam-",
    cooldown_s: float = 3600,
    key_frames: bool = True,
    at_detect_rate: bool = True,
    backend: str = "auto",
) -> CameraConfig:
    return CameraConfig.model_validate(
        {
            "id": f"{prefix}{index:02d}",
            "name": f"Bench camera {prefix}{index}",
            "organisation": {"id": "bench", "name": "Bench", "kind": "public"},
            "source": url,
            "location": {"lat": 30.25, "lon": 120.12},
            "detect": {"fps": fps, "imgsz": imgsz, "backend": backend},
            "stream": {
                "key_frames_when_still": key_frames,
                "key_frames_at_detect_rate": at_detect_rate,
            },
            "zones": [{"name": "all", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}],
            "rules": [
                {
                    "kind": "intrusion",
                    "zone": "all",
                    "classes": ["person"],
                    "cooldown_s": cooldown_s,
                }
            ],
        }
    )


class TimedOutbox(Outbox):
    """The worker's outbox, noting each incident's alert latency as it enters: from the capture
    of the frame in which its rule concluded to now, in seconds."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.latencies: list[float] = []

    def put(self, incident: Incident) -> bool:
        kept = super().put(incident)
        if kept:
            self.latencies.append((datetime.now(UTC) - incident.detected_at).total_seconds())
        return kept


@dataclass
class Run:
    """What one worker run measured over its steady part."""

    busy: list[float]  # analysed frames per second of each busy camera
    static: list[float]  # and of each static one
    cpu_s: float  # this process's CPU seconds per second (the worker's)
    servers_cpu_s: float  # the RTSP servers' CPU seconds per second
    latencies: list[float] = field(default_factory=list)  # alert latencies, seconds
    key_frames_only: float = 0.0  # share of static camera-samples decoded key frames only
    load: str = ""
    costs: dict[str, dict[str, float]] = field(default_factory=dict)  # see camera_costs
    clip_wait: float = 0.0  # share of the detection threads' time spent waiting for the encoder


STAGES = ("decode", "gate", "inference", "tracking", "evidence", "other")


@dataclass
class Reading:
    """What the CPU accounting needs, read at one moment of a run."""

    threads: dict[int, float]  # CPU seconds of each thread of this process, by native id
    names: dict[int, str]  # Python's name of each thread it knows, by native id
    stages: dict[str, dict[str, float]]  # each camera's pipeline CPU seconds by stage
    inferred: dict[str, int]  # each camera's frames through the model
    incidents: dict[str, int]
    analysed: dict[str, int]


def reading(worker: Worker) -> Reading:
    threads = {t.id: t.user_time + t.system_time for t in psutil.Process().threads()}
    names = {t.native_id: t.name for t in threading.enumerate() if t.native_id is not None}
    watched = dict(worker.watched)
    return Reading(
        threads=threads,
        names=names,
        stages={key: dict(w.pipeline.stats.cpu_s) for key, w in watched.items()},
        inferred={key: w.pipeline.stats.inferred for key, w in watched.items()},
        incidents={r.camera.id: r.stats.incidents for r in worker.readers},
        analysed={r.camera.id: r.stats.frames_analysed for r in worker.readers},
    )


def camera_costs(before: Reading, after: Reading) -> dict[str, dict[str, float]]:
    """Each camera's CPU seconds over the window, by stage, from the worker's threads.

    A camera's capture thread is its decoding; its pipeline's own accounts give the gate,
    inference, tracking (and rules) and evidence on the detection threads. The inference
    engine's threads (not Python's) are shared by the frames each camera sent through the
    model, the clip encoder's by the incidents; what is left (detection threads outside the
    pipeline, the dispatcher, health, the outbox) goes to every camera alike, as "other"."""

    def spent(tid: int) -> float:
        return after.threads[tid] - before.threads.get(tid, 0.0)

    cameras = list(after.stages)
    costs = {key: dict.fromkeys(STAGES, 0.0) for key in cameras}
    engine = clips = shared = 0.0
    for tid in after.threads:
        name = after.names.get(tid, before.names.get(tid))
        if name is None:
            engine += spent(tid)
        elif name.startswith(("capture-", "camera-")) and name.split("-", 1)[1] in costs:
            costs[name.split("-", 1)[1]]["decode"] += spent(tid)
        elif name == "clip-encoder":
            clips += spent(tid)
        else:
            shared += spent(tid)
    inferred = {key: after.inferred[key] - before.inferred.get(key, 0) for key in cameras}
    incidents = {key: after.incidents[key] - before.incidents.get(key, 0) for key in cameras}
    for key in cameras:
        stages = {
            stage: after.stages[key].get(stage, 0.0) - before.stages.get(key, {}).get(stage, 0.0)
            for stage in STAGES
        }
        for stage in ("gate", "inference", "tracking", "evidence"):
            costs[key][stage] += stages[stage]
            shared -= stages[stage]  # spent on the detection threads, counted in `shared`
        costs[key]["inference"] += engine * inferred[key] / max(1, sum(inferred.values()))
        costs[key]["evidence"] += clips * incidents[key] / max(1, sum(incidents.values()))
    for key in cameras:
        costs[key]["other"] += max(0.0, shared) / len(cameras)
    return costs


def mean_cost(costs: list[dict[str, float]]) -> dict[str, float]:
    """The mean of cameras' CPU per camera-second, by stage."""
    return {stage: sum(c[stage] for c in costs) / max(1, len(costs)) for stage in STAGES}


def cost_line(kind: str, costs: list[dict[str, float]], cores: int) -> str:
    """One kind of camera's mean CPU per camera-second (share of a core), by stage, and the
    cameras of that kind alone that `cores` cores would then carry."""
    mean = mean_cost(costs)
    total = sum(mean.values())
    stages = ", ".join(f"{stage} {100 * mean[stage]:.2f}" for stage in STAGES)
    capacity = cores / total if total else float("inf")
    return (
        f"{kind} camera {100 * total:.2f}% of a core ({stages}), "
        f"{capacity:.0f} such cameras on {cores} cores"
    )


def process_cpu_s() -> float:
    times = os.times()
    return times.user + times.system


def servers_cpu_s(servers: list[RtspServer]) -> float:
    total = 0.0
    for server in servers:
        if server.process is not None:
            times = psutil.Process(server.process.pid).cpu_times()
            total += times.user + times.system
    return total


def run_worker(
    server: RtspServer,
    count: int,
    fps: float,
    seconds: float,
    folder: Path,
    imgsz: int = 640,
    detect_threads: int | None = None,
    static_server: RtspServer | None = None,
    static: int = 0,
    key_frames: bool = True,
    at_detect_rate: bool = True,
    backend: str = "auto",
) -> Run:
    """One worker on `count` busy cameras and `static` still ones, measured over the steady part
    of the run."""
    cameras = [
        camera(i, server.url(f"cam{i}"), fps, imgsz, at_detect_rate=at_detect_rate, backend=backend)
        for i in range(count)
    ]
    if static_server is not None:
        # One incident per crossing: the person crosses once a minute.
        cameras += [
            camera(
                i,
                static_server.url(f"cam{i}"),
                fps,
                imgsz,
                STATIC_PREFIX,
                cooldown_s=30,
                key_frames=key_frames,
                at_detect_rate=at_detect_rate,
                backend=backend,
            )
            for i in range(static)
        ]
    outbox = TimedOutbox(folder / f"outbox-{count}-{static}-{detect_threads}-{key_frames}.sqlite")
    worker = Worker(
        cameras,
        CameraAssembly(DetectorPool(default_data_dir()), detect_threads=detect_threads),
        outbox,
        sender=None,
    )
    servers = [server] + ([static_server] if static_server is not None else [])
    thread = threading.Thread(target=worker.run, kwargs={"drain_s": 0}, daemon=True)
    thread.start()
    # Connect, load the model, warm up: until every camera has been analysed (the model loads
    # once per detection thread, slowly on a loaded machine), then still cameras settle into
    # key-frame decoding.
    warming = time.monotonic() + 180
    while time.monotonic() < warming and (
        len(worker.readers) < len(cameras)
        or any(r.stats.frames_analysed == 0 for r in worker.readers)
    ):
        time.sleep(0.5)
    time.sleep(min(8.0 + 4.0 * bool(static), seconds / 3))
    start = {r.camera.id: r.stats.frames_analysed for r in worker.readers}
    outbox.latencies.clear()
    cpu, served = process_cpu_s(), servers_cpu_s(servers)
    first = reading(worker)
    waited = worker.encoder.waited_s if worker.encoder is not None else 0.0
    started = time.monotonic()
    samples = skipping = 0
    while (elapsed := time.monotonic() - started) < seconds:
        time.sleep(min(1.0, seconds - elapsed))
        for reader in worker.readers:
            if reader.camera.id.startswith(STATIC_PREFIX):
                samples += 1
                skipping += reader.key_frames_only
    elapsed = time.monotonic() - started
    cpu, served = process_cpu_s() - cpu, servers_cpu_s(servers) - served
    costs = camera_costs(first, reading(worker))
    if worker.encoder is not None:
        waited = worker.encoder.waited_s - waited
    threads_s = elapsed * (worker.assembly.detect_threads or 1)
    rates = {
        r.camera.id: (r.stats.frames_analysed - start[r.camera.id]) / elapsed
        for r in worker.readers
    }
    latencies = list(outbox.latencies)
    load = "load average " + " ".join(f"{value:.2f}" for value in os.getloadavg())
    worker.stop.set()
    thread.join(timeout=60)
    outbox.close()
    return Run(
        busy=[rate for key, rate in rates.items() if not key.startswith(STATIC_PREFIX)],
        static=[rate for key, rate in rates.items() if key.startswith(STATIC_PREFIX)],
        cpu_s=cpu / elapsed,
        servers_cpu_s=served / elapsed,
        latencies=latencies,
        key_frames_only=skipping / samples if samples else 0.0,
        load=load,
        costs={key: {stage: value / elapsed for stage, value in cost.items()}
               for key, cost in costs.items()},
        clip_wait=waited / threads_s,
    )  # fmt: skip


def rates_line(rates: list[float], fps: float) -> str:
    if not rates:
        return "none"
    sustained = sum(rate >= 0.95 * fps for rate in rates)
    return (
        f"{sustained}/{len(rates)} sustained (rates min {min(rates):.2f} median "
        f"{statistics.median(rates):.2f} max {max(rates):.2f} fps)"
    )


def latency_line(latencies: list[float]) -> str:
    if not latencies:
        return "no incidents"
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"{len(ordered)} incidents, median {statistics.median(ordered):.2f} s, "
        f"p95 {p95:.2f} s, max {ordered[-1]:.2f} s"
    )


def plain_loops(server: RtspServer, count: int, seconds: float, weights: Path) -> float:
    """Frames per second over all cameras with one naive predict() loop per camera."""
    import cv2
    from ultralytics import YOLO

    frames = [0] * count
    stop = threading.Event()

    def loop(index: int) -> None:
        model = YOLO(str(weights))
        capture = cv2.VideoCapture(server.url(f"cam{index}"), cv2.CAP_FFMPEG)
        while not stop.is_set():
            ok, image = capture.read()
            if not ok:
                break
            model.predict(image, verbose=False, classes=[0])
            frames[index] += 1
        capture.release()

    threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    time.sleep(min(8.0, seconds / 3))
    before = sum(frames)
    time.sleep(seconds)
    rate = (sum(frames) - before) / seconds
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    return rate


def demo_seconds(demo_clip: Path) -> float:
    """The demo clip's length in seconds, as served (CLIP_FPS frames a second)."""
    import cv2

    capture = cv2.VideoCapture(str(demo_clip))
    try:
        return capture.get(cv2.CAP_PROP_FRAME_COUNT) / CLIP_FPS
    finally:
        capture.release()


def costs_parts(run: Run, busy: int, static: int) -> list[str]:
    """The worker's CPU per busy and per static camera, by stage, the capacity each implies on
    the machine's cores, and what the issue's target mix would take."""
    cores = usable_cores()
    busy_costs = [c for key, c in run.costs.items() if not key.startswith(STATIC_PREFIX)]
    static_costs = [c for key, c in run.costs.items() if key.startswith(STATIC_PREFIX)]
    parts = [cost_line("busy", busy_costs, cores)] if busy_costs else []
    if static_costs:
        parts.append(cost_line("static", static_costs, cores))
    if busy_costs and static_costs:
        mix = 32 * sum(mean_cost(busy_costs).values()) + 64 * sum(mean_cost(static_costs).values())
        parts.append(f"32 busy + 64 static would take {mix:.2f} of {cores} cores")
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--counts", default="4,8,12,16")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--fps", type=float, default=1.0)
    parser.add_argument("--imgsz", type=int, default=640, help="Model input size in pixels.")
    parser.add_argument(
        "--backend",
        default="auto",
        help="The cameras' detect.backend (auto, openvino, openvino-int8, onnx, pytorch).",
    )
    parser.add_argument(
        "--detect-threads",
        default="auto",
        help="Comma-separated detection thread counts to compare; auto is one per core.",
    )
    parser.add_argument("--no-plain", action="store_true", help="Skip the plain-loop comparison.")
    parser.add_argument(
        "--in-step",
        action="store_true",
        help="Start every busy camera at the clip's first frame instead of spreading them over it.",
    )
    parser.add_argument(
        "--static", type=int, default=0, help="Mostly-static cameras beside each busy count."
    )
    parser.add_argument(
        "--compare-full",
        action="store_true",
        help="Also run each count with the static cameras decoded in full, to compare.",
    )
    parser.add_argument(
        "--compare-before",
        action="store_true",
        help=(
            "Also run each count without `stream.key_frames_at_detect_rate` (every camera"
            " decoded in full but still ones), the way before it, to compare."
        ),
    )
    arguments = parser.parse_args()
    thread_counts = [
        None if value == "auto" else int(value) for value in arguments.detect_threads.split(",")
    ]
    logging.basicConfig(level=logging.WARNING)
    counts = [int(c) for c in arguments.counts.split(",")]
    assets = ensure_all(default_data_dir())
    clip = encoded_clip(assets["vtest.avi"], default_data_dir())
    still = still_scene_clip(assets["vtest.avi"], default_data_dir()) if arguments.static else None
    print(f"machine: {describe()}")
    with tempfile.TemporaryDirectory(prefix="gridwatch-cameras-") as temporary:
        folder = Path(temporary)
        mounts = tuple(f"cam{i}" for i in range(max(counts)))
        static_server = None
        if still is not None:
            # Each still camera a different moment of the clip's minute, as in a district.
            static_server = RtspServer(
                still, mounts=tuple(f"cam{i}" for i in range(arguments.static)),
                log_path=folder / "rtsp-static.log", stagger_s=60 / arguments.static,
            ).start()  # fmt: skip
            print(
                f"{arguments.static} mostly-static cameras beside each count: still street, "
                "sensor noise, a person crossing once a minute, H.264 768x576 10 fps, 1 s GOP"
            )
        try:
            demo_s = demo_seconds(assets["vtest.avi"])
            stagger_s = 0.0 if arguments.in_step else demo_s / max(1, max(counts))
            print(
                f"busy cameras: the demo clip ({demo_s:.1f} s, H.264 768x576 {CLIP_FPS} fps), "
                + ("all in step" if arguments.in_step else f"each {stagger_s:.1f} s further in")
            )
            with RtspServer(
                clip, mounts=mounts, log_path=folder / "rtsp.log", stagger_s=stagger_s
            ) as server:
                for threads in thread_counts:
                    shown = threads or f"{usable_cores()} (auto)"
                    best = 0
                    # (key frames when still, key frames at the detect rate)
                    ways = [(True, True)]
                    if arguments.compare_before:
                        ways.append((True, False))
                    if arguments.static and arguments.compare_full:
                        ways.append((False, False))
                    for count, (key_frames, at_rate) in ((c, w) for c in counts for w in ways):
                        run = run_worker(
                            server, count, arguments.fps, arguments.seconds, folder,
                            arguments.imgsz, threads, static_server, arguments.static, key_frames,
                            at_rate, arguments.backend,
                        )  # fmt: skip
                        cameras = count + arguments.static
                        decoding = (
                            "key frames at the detect rate or when still"
                            if at_rate
                            else "key frames when still"
                            if key_frames
                            else "every frame"
                        )
                        parts = [
                            f"{count:2d} busy + {arguments.static} static cameras at "
                            f"{arguments.fps:g} fps, {arguments.imgsz} px, {arguments.backend} "
                            f"backend, {shown} detection "
                            f"threads, {arguments.seconds:g} s, decoded {decoding}",
                            f"busy {rates_line(run.busy, arguments.fps)}",
                            f"static {rates_line(run.static, arguments.fps)}",
                        ]
                        if arguments.static:
                            share = 100 * run.key_frames_only
                            parts.append(f"static decoded key frames only {share:.0f}% of the time")
                        parts += [
                            f"{sum(run.busy) + sum(run.static):.1f} frames/s in all",
                            f"worker CPU {100 * run.cpu_s:.0f}% of a core, "
                            f"{100 * run.cpu_s / cameras:.1f}% per camera",
                            f"RTSP servers {100 * run.servers_cpu_s:.0f}% of a core",
                            f"detection waited for the clip encoder {100 * run.clip_wait:.1f}% "
                            "of its time",
                            *costs_parts(run, count, arguments.static),
                            f"alert latency {latency_line(run.latencies)}",
                            run.load,
                        ]
                        print("; ".join(parts), flush=True)
                        sustained = sum(rate >= 0.95 * arguments.fps for rate in run.busy)
                        if sustained == count and at_rate:
                            best = count
                    print(
                        f"largest sustained with {shown} detection threads: {best} busy cameras "
                        f"at {arguments.fps:g} detect fps each"
                        f"{f' beside {arguments.static} static ones' if arguments.static else ''}",
                        flush=True,
                    )
                if arguments.no_plain:
                    return
                few = min(4, max(counts))
                naive = plain_loops(server, few, arguments.seconds, assets["yolov8n.pt"])
                print(
                    f"plain YOLO().predict() loops, {few} cameras: {naive:.1f} frames/s in all"
                    " (every frame of each stream, no gate, no sampling)"
                )
        finally:
            if static_server is not None:
                static_server.stop()


if __name__ == "__main__":
    main()
