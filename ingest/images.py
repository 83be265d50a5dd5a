"""Pictures that come from outside (camera snapshots, MJPEG parts, photos): their size read from
the header and refused before decoding when decoding would take more memory than a frame may."""

from __future__ import annotations

import io
import os
import warnings

from PIL import Image, UnidentifiedImageError

from ingest.errors import CameraUnavailable

# 40 megapixels: an 8K camera's frame (7680 x 4320, 33 MP) fits; a 16000 x 16000 PNG of 243 KiB,
# which decodes to 768 MB, does not. GRIDWATCH_MAX_IMAGE_PIXELS changes it for workers and the
# API alike.
DEFAULT_MAX_IMAGE_PIXELS = 40_000_000
MAX_IMAGE_PIXELS = int(os.environ.get("GRIDWATCH_MAX_IMAGE_PIXELS", DEFAULT_MAX_IMAGE_PIXELS))


class ImageTooLarge(CameraUnavailable):
    """A picture whose header declares more pixels than allowed; it was not decoded. Retried
    like any unusable frame (a camera may be reconfigured to a smaller resolution)."""


# The formats whose header is read: what cameras and uploads send (Pillow's first-loaded ones).
# Naming them keeps Pillow from trying every plugin installed beside it: one may need a module
# that is missing (a HEIF opener without its library), or be slow.
HEADER_FORMATS = ("JPEG", "PNG", "GIF", "BMP")


def image_size(payload: bytes) -> tuple[int, int] | None:
    """(width, height) in pixels as the picture's header declares it, without decoding the
    pixels; None when the header is not one of a picture format Pillow knows."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(payload), formats=HEADER_FORMATS) as picture:
                return picture.size
    except Image.DecompressionBombError:
        # Pillow refuses huge pictures itself; measure the header without its limit.
        previous, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            with Image.open(io.BytesIO(payload), formats=HEADER_FORMATS) as picture:
                return picture.size
        finally:
            Image.MAX_IMAGE_PIXELS = previous
    except (UnidentifiedImageError, OSError, ValueError, ImportError):
        return None


def check_image_size(source: str, payload: bytes, max_pixels: int | None = None) -> None:
    """Refuse a picture from outside whose header declares more than `max_pixels` pixels
    (default: MAX_IMAGE_PIXELS, 40 MP), before anything decodes it.

    A picture whose header cannot be read is left to the decoder, which says it cannot decode
    it.

    Raises:
        ImageTooLarge: Naming `source` (a camera id or an upload's field), the declared size and
            the limit.

    Example:
        >>> check_image_size("gate", png_of_16000_by_16000)
        Traceback (most recent call last):
        ImageTooLarge: gate: the picture is 16000x16000 pixels, more than the 40000000 allowed...
    """
    limit = MAX_IMAGE_PIXELS if max_pixels is None else max_pixels
    size = image_size(payload)
    if size is not None and size[0] * size[1] > limit:
        width, height = size
        raise ImageTooLarge(
            source,
            f"the picture is {width}x{height} pixels, more than the {limit} allowed"
            " (GRIDWATCH_MAX_IMAGE_PIXELS); it was not decoded",
        )
