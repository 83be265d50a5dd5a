"""Camera adapters: they open a camera's source and hand out timestamped frames."""

from ingest.errors import CameraUnavailable, IngestError, UnsupportedSource
from ingest.frames import Frame, FrameSource
from ingest.sources import open_source

__all__ = [
    "CameraUnavailable",
    "Frame",
    "FrameSource",
    "IngestError",
    "UnsupportedSource",
    "open_source",
]
