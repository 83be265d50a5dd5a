"""Camera adapters: they open a camera's source and hand out timestamped frames."""

from ingest.errors import (
    AuthenticationFailed,
    CameraUnavailable,
    IngestError,
    InvalidSource,
    NotAVideoStream,
    SourceRefused,
    SourceTimeout,
    SourceUnreachable,
    UnsupportedSource,
)
from ingest.frames import Frame, FrameSource
from ingest.health import CameraHealth, CameraStatus
from ingest.live import LiveSource, StreamOptions
from ingest.sources import open_source

__all__ = [
    "AuthenticationFailed",
    "CameraHealth",
    "CameraStatus",
    "CameraUnavailable",
    "Frame",
    "FrameSource",
    "IngestError",
    "InvalidSource",
    "LiveSource",
    "NotAVideoStream",
    "SourceRefused",
    "SourceTimeout",
    "SourceUnreachable",
    "StreamOptions",
    "UnsupportedSource",
    "open_source",
]
