"""GB/T 28181 channels as cameras (``gb28181://DEVICE_ID/CHANNEL_ID``): the stream asked of the
SIP service, received as PS over RTP, demuxed and decoded by FFmpeg through PyAV.

The adapter opens an RTP port (UDP, or TCP listening: the standard's "TCP passive"), asks the
`gridwatch gb28181` service's stream control to INVITE the channel to it (why the service makes
the INVITE: see `gridwatch.gb28181.media`), and hands the payloads, in sequence order, to FFmpeg's
MPEG-PS demuxer (`av.open(stream, format="mpeg")`): H.264 and H.265 alike, as the stream says. A
stream silent for the read timeout is lost: the adapter sends BYE and `LiveSource` asks again
with backoff.
"""

from __future__ import annotations

import logging
import time
from typing import ClassVar, Literal
from urllib.parse import urlsplit

import httpx
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ingest.backoff import Backoff
from ingest.decoding import VideoDecoder
from ingest.errors import (
    CameraUnavailable,
    InvalidSource,
    SourceTimeout,
    SourceUnreachable,
)
from ingest.live import DecoderSession, LiveSource, StreamOptions
from ingest.rtp import PayloadStream, RtpReceiver, parse_port_range

log = logging.getLogger(__name__)


class Gb28181Media(BaseSettings):
    """Where a worker asks for GB/T 28181 streams and receives them (``GRIDWATCH_GB28181_*``)."""

    model_config = SettingsConfigDict(
        env_prefix="GRIDWATCH_GB28181_", extra="ignore", populate_by_name=True
    )

    control_url: str = Field(
        "http://127.0.0.1:5070", description="The gridwatch gb28181 service's stream control."
    )
    token: SecretStr = Field(
        SecretStr("changethis"),
        validation_alias=AliasChoices("GRIDWATCH_GB28181_TOKEN", "GRIDWATCH_WORKER_TOKEN"),
        description="Bearer token of the stream control: the workers' token.",
    )
    media_host: str = Field(
        "127.0.0.1",
        description="This worker's IPv4 address as devices reach it: the SDP names it.",
    )
    media_bind: str = Field("0.0.0.0", description="Address the RTP port is bound on.")
    media_transport: Literal["udp", "tcp"] = Field(
        "udp", description="RTP over udp, or tcp with this worker listening (TCP passive)."
    )
    rtp_ports: str = Field(
        "",
        description="FIRST-LAST: the ports RTP is received on, the first free one per stream (a"
        " firewall is opened for them); empty: any free port.",
    )

    @field_validator("rtp_ports")
    @classmethod
    def _rtp_ports(cls, value: str) -> str:
        if value.strip():
            try:
                parse_port_range(value)
            except ValueError as err:
                raise ValueError(f"GRIDWATCH_GB28181_RTP_PORTS: {err}") from err
        return value

    @property
    def rtp_port_range(self) -> tuple[int, int] | None:
        """`rtp_ports` as (first, last), None when any free port will do."""
        return parse_port_range(self.rtp_ports) if self.rtp_ports.strip() else None


def parse_gb28181(camera_id: str, url: str) -> tuple[str, str]:
    """(device id, channel id) of a ``gb28181://DEVICE_ID/CHANNEL_ID`` source.

    Raises:
        InvalidSource: either id is not 20 digits.
    """
    parts = urlsplit(url)
    device_id, channel_id = parts.netloc, parts.path.strip("/")
    for name, value in (("device id", device_id), ("channel id", channel_id)):
        if len(value) != 20 or not value.isdigit():
            raise InvalidSource(camera_id, f"{name} {value[:30]!r} is not a 20-digit code")
    return device_id, channel_id


class _Gb28181Session(DecoderSession):
    """One INVITEd stream: its RTP receiver, FFmpeg's demuxer and decoder, and the call to end
    with BYE; only the capture thread touches it.

    Args:
        asked_at: time.monotonic() when the stream was asked for.
        answered_at: time.monotonic() when the service said the device accepted.
    """

    def __init__(
        self,
        camera_id: str,
        receiver: RtpReceiver,
        decoder: VideoDecoder,
        control: httpx.Client,
        stream_id: str,
        *,
        asked_at: float,
        answered_at: float,
    ):
        super().__init__(camera_id, decoder, decoder.codec_name)
        self.receiver, self.control, self.stream_id = receiver, control, stream_id
        self.asked_at, self.answered_at = asked_at, answered_at
        self.first_frame_s: float | None = None  # seconds from asking to the first picture

    def lost(self) -> CameraUnavailable:
        stats = self.receiver.stats
        return CameraUnavailable(
            self.camera_id,
            f"stream lost: no RTP for {self.receiver.stream.timeout_s:g} s"
            f" ({stats.packets} packets, {stats.lost} lost)",
        )

    def receive(self) -> int:
        count = super().receive()
        if self.first_frame_s is None:
            self.first_frame_s = time.monotonic() - self.asked_at
        return count

    def close(self) -> None:
        _stop_stream(self.control, self.camera_id, self.stream_id)
        self.receiver.close()
        super().close()


def _stop_stream(control: httpx.Client, camera_id: str, stream_id: str) -> None:
    try:
        control.delete(f"/streams/{stream_id}")
    except (httpx.HTTPError, RuntimeError) as err:  # RuntimeError: the client was closed
        log.warning("%s: BYE not asked of the stream control (%s)", camera_id, err)


class Gb28181Source(LiveSource):
    """A GB/T 28181 device's channel, streamed on request through the SIP service.

    `invite_to_first_frame_s` is the seconds from asking for the stream to its first decoded
    picture, on the current connection (None before that picture).

    Example:
        >>> source = Gb28181Source("gate", "gb28181://34020000001320000001/34020000001310000001",
        ...                        detect_fps=2, media=Gb28181Media(media_host="10.0.0.5"))
        >>> source.read().size
        (1920, 1080)
    """

    kind: ClassVar[str] = "gb28181"

    def __init__(
        self,
        camera_id: str,
        url: str,
        *,
        detect_fps: float,
        options: StreamOptions | None = None,
        media: Gb28181Media | None = None,
        backoff: Backoff | None = None,
    ):
        self.device_id, self.channel_id = parse_gb28181(camera_id, url)
        self.media = media or Gb28181Media()
        self._session: _Gb28181Session | None = None
        super().__init__(camera_id, detect_fps=detect_fps, options=options, backoff=backoff)
        self._control = httpx.Client(
            base_url=self.media.control_url,
            headers={"Authorization": f"Bearer {self.media.token.get_secret_value()}"},
            # The service waits up to its INVITE timeout for the device's answer.
            timeout=httpx.Timeout(self.options.open_timeout_s + 10, connect=2),
        )
        try:
            self._start()
        except BaseException:
            self._control.close()
            raise

    def _transport(self) -> str | None:
        return self.media.media_transport

    def _connect(self) -> _Gb28181Session:
        started = time.monotonic()
        # The device starts sending after the ACK: its first packet may take the open timeout.
        stream = PayloadStream(
            timeout_s=self.options.read_timeout_s, first_timeout_s=self.options.open_timeout_s
        )
        try:
            # The SSRC is the answer's y=, given once the service returns it: packets arriving
            # before wait for it.
            receiver = RtpReceiver(
                stream, transport=self.media.media_transport, host=self.media.media_bind,
                ports=self.media.rtp_port_range, name=f"rtp-{self.camera_id}",
            )  # fmt: skip
        except OSError as err:
            raise CameraUnavailable(self.camera_id, f"no RTP port to receive on: {err}") from err
        try:
            answer = self._invite(receiver.port)
        except BaseException:
            receiver.close()
            raise
        answered_at = time.monotonic()
        stream_id = str(answer["stream_id"])
        receiver.expect(int(str(answer["ssrc"])))
        try:
            decoder = VideoDecoder(
                stream,  # type: ignore[arg-type]  # a file object for PyAV: read() only
                {"probesize": 65536, "analyzeduration": 0},
                format="mpeg",
                threads=self.options.decode_threads,
            )
        except (OSError, LookupError) as err:
            _stop_stream(self._control, self.camera_id, stream_id)
            receiver.close()
            heard = receiver.stats
            raise CameraUnavailable(
                self.camera_id,
                f"no video in the device's stream within {self.options.open_timeout_s:g} s"
                f" ({heard.packets} RTP packets of SSRC {receiver.ssrc} heard, {heard.foreign}"
                " of another SSRC or payload type dropped)",
            ) from err
        session = _Gb28181Session(
            self.camera_id, receiver, decoder, self._control, stream_id,
            asked_at=started, answered_at=answered_at,
        )  # fmt: skip
        self._session = session
        log.info("%s: %s/%s streaming %s over RTP/%s to port %d", self.camera_id,
                 self.device_id, self.channel_id, decoder.codec_name,
                 self.media.media_transport, receiver.port)  # fmt: skip
        return session

    def _invite(self, port: int) -> dict[str, object]:
        body = {
            "device_id": self.device_id, "channel_id": self.channel_id,
            "media_host": self.media.media_host, "media_port": port,
            "transport": self.media.media_transport,
        }  # fmt: skip
        try:
            response = self._control.post("/streams", json=body)
        except httpx.TimeoutException as err:
            raise SourceTimeout(self.camera_id, "the GB/T 28181 service did not answer") from err
        except httpx.HTTPError as err:
            raise SourceUnreachable(
                self.camera_id, f"GB/T 28181 service at {self.media.control_url}: {err}"
            ) from err
        if response.status_code != 200:
            try:
                detail = str(response.json().get("detail", ""))
            except ValueError:
                detail = response.text[:200]
            raise CameraUnavailable(
                self.camera_id, f"stream refused ({response.status_code}): {detail}"
            )
        answer: dict[str, object] = response.json()
        return answer

    @property
    def invite_to_first_frame_s(self) -> float | None:
        session = self._session
        return session.first_frame_s if session is not None else None

    def startup(self) -> dict[str, float] | None:
        """Where the current connection's time to its first picture went, in seconds:
        `answer` (asking to the device's 200 via the service), `first_packet` (that to the first
        RTP packet: the device starting to send), `first_picture` (that to the first decoded
        picture: FFmpeg probing and decoding). None before the first picture."""
        session = self._session
        if session is None or session.first_frame_s is None:
            return None
        first_packet = session.receiver.stats.first_packet_at or session.answered_at
        return {
            "answer": session.answered_at - session.asked_at,
            "first_packet": first_packet - session.answered_at,
            "first_picture": session.asked_at + session.first_frame_s - first_packet,
        }

    @property
    def rtp(self) -> RtpReceiver | None:
        """The current connection's RTP receiver (its port and counts), if connected."""
        session = self._session
        return session.receiver if session is not None else None

    def close(self, timeout_s: float = 2.0) -> None:
        session = self._session
        if session is not None:
            session.receiver.stream.close()  # a read waiting for RTP returns now
        super().close(timeout_s)
        if self._thread is None or not self._thread.is_alive():
            self._control.close()  # else the capture thread still sends its BYE through it
