"""Errors raised by camera adapters; each docstring says whether the worker retries."""


class IngestError(Exception):
    """Base of every error a camera adapter raises."""


class CameraUnavailable(IngestError):
    """The camera could not be opened or stopped delivering frames. Retried with backoff."""

    def __init__(self, camera_id: str, reason: str):
        self.camera_id = camera_id
        self.reason = reason
        super().__init__(f"{camera_id}: {reason}")


class UnsupportedSource(IngestError):
    """The source's scheme has no adapter in this build. Not retried: the config must change."""

    def __init__(self, camera_id: str, scheme: str):
        self.camera_id = camera_id
        self.scheme = scheme
        super().__init__(f"{camera_id}: no adapter for {scheme}:// sources")
