"""What keeping an incident in the worker's outbox costs the detection thread that keeps it: the
wall time of `Outbox.put` for incidents with a snapshot of the demo clip (768x576 JPEG), with the
disk flushed in `put` (`sync_s=0`, as before) and by the outbox's own thread within `sync_s`
(the default), the two in turns in one run, each into its own file in the same folder.

At 12 incidents a second (32 busy cameras), the share of a detection thread's time that `put`
takes is printed beside each.

Usage: python bench/outbox.py [--incidents 240] [--rate 12] [--folder DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.harness import percentile  # noqa: E402
from contract.camera import default_data_dir  # noqa: E402
from detectors.evidence import encode_jpeg, sha256_hex  # noqa: E402
from gridwatch.assets import ensure_all  # noqa: E402
from gridwatch.machine import describe  # noqa: E402
from gridwatch.outbox import SYNC_S, Outbox  # noqa: E402
from tests.gridwatch.test_outbox import make_incident  # noqa: E402


def demo_snapshot() -> bytes:
    """A frame of the demo clip as the snapshot JPEG a worker makes."""
    capture = cv2.VideoCapture(str(ensure_all(default_data_dir())["vtest.avi"]))
    capture.set(cv2.CAP_PROP_POS_FRAMES, 100)
    ok, image = capture.read()
    capture.release()
    if not ok:
        raise RuntimeError("the demo clip gave no frame")
    return encode_jpeg(image)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--incidents", type=int, default=240, help="Incidents kept per way.")
    parser.add_argument("--rate", type=float, default=12.0, help="Incidents a second.")
    parser.add_argument("--folder", type=Path, help="Where the outboxes go (default: a temp dir).")
    arguments = parser.parse_args()
    snapshot = demo_snapshot()
    print(f"machine: {describe()}; snapshot {len(snapshot) / 1024:.0f} KiB")
    ways = {"flushed in put (sync_s=0)": 0.0, f"flushed within sync_s={SYNC_S:g}": SYNC_S}
    with tempfile.TemporaryDirectory(prefix="gridwatch-outbox-", dir=arguments.folder) as folder:
        outboxes = {name: Outbox(Path(folder) / f"{i}.sqlite", sync_s=s)
                    for i, (name, s) in enumerate(ways.items())}  # fmt: skip
        took: dict[str, list[float]] = {name: [] for name in ways}
        template = replace(
            make_incident(), snapshot_jpeg=snapshot, snapshot_sha256=sha256_hex(snapshot)
        )
        for index in range(arguments.incidents):
            for name, outbox in outboxes.items():  # in turns: the disk's moods fall on both
                kept = replace(template, id=str(uuid.uuid4()), track_id=index)
                started = time.perf_counter()
                outbox.put(kept)
                took[name].append(time.perf_counter() - started)
            time.sleep(1 / arguments.rate)
        for outbox in outboxes.values():
            outbox.close()
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    for name in ways:
        put_s = took[name]
        share = statistics.mean(put_s) * arguments.rate
        print(
            f"{name}: put median {1000 * statistics.median(put_s):.2f} ms, p95 "
            f"{1000 * percentile(put_s, 0.95):.2f} ms, max {1000 * max(put_s):.2f} ms "
            f"({100 * share:.1f}% of a detection thread at {arguments.rate:g} incidents/s)"
        )
    print(f"{arguments.incidents} incidents each way; load average {load}")


if __name__ == "__main__":
    main()
