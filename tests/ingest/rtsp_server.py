"""A real RTSP server for the ingest tests: gst-rtsp-server serving the demo clip as H.264.

Runs under the system python3 (PyGObject and GStreamer come from Debian packages, see
scripts/system-deps.sh), never under the project's virtual environment.

Two commands:

    rtsp_server.py encode --out clip.h264au --width 768 --height 576 --fps 10 < frames.bgr
        Encode raw BGR frames from stdin to H.264 once (x264, one key frame a second) and store
        the access units, so serving costs no encoding: eight cameras on one server stay cheap.
        --gop N --fixed-gop: a key frame every N frames exactly, as IP cameras send them (x264
        otherwise adds key frames where the picture changes much, e.g. at every frame of noise).

    rtsp_server.py serve --port 8554 --clip clip.h264au --mount cam0 --mount cam1 ...
        Serve the stored clip, looped, at its frame rate on every mount; --user/--password
        require basic authentication (--digest: digest authentication); --audio-mount adds a
        mount with an audio track only; --stagger S starts the n-th mount's clip n * S seconds
        in (at the key frame there or before), so cameras showing one clip are not in step.
        Prints "ready <port>" once it listens.

Each client gets its own pipeline, starting at the clip's first (key) frame (or its mount's
staggered start), so a client that connects or reconnects decodes from its first packet.
"""

from __future__ import annotations

import argparse
import signal
import struct
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstApp", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstApp, GstRtsp, GstRtspServer  # noqa: E402

RECORD = struct.Struct(">I")  # each access unit is stored as a big-endian length and the bytes


def encode(
    out: str, width: int, height: int, fps: int, gop: int | None = None, fixed: bool = False
) -> None:
    options = ' option-string="scenecut=0"' if fixed else ""
    pipeline = Gst.parse_launch(
        f"fdsrc fd=0 blocksize={width * height * 3} "
        f"! rawvideoparse format=bgr width={width} height={height} framerate={fps}/1 "
        "! videoconvert ! video/x-raw,format=I420 "
        f"! x264enc tune=zerolatency speed-preset=veryfast key-int-max={gop or fps} "
        f"bitrate=1500{options} "
        "! video/x-h264,stream-format=byte-stream,alignment=au "
        "! appsink name=sink sync=false"
    )
    sink = pipeline.get_by_name("sink")
    pipeline.set_state(Gst.State.PLAYING)
    count = 0
    with open(out, "wb") as stored:
        while True:
            sample = sink.emit("pull-sample")
            if sample is None:
                break
            buffer = sample.get_buffer()
            data = buffer.extract_dup(0, buffer.get_size())
            stored.write(RECORD.pack(len(data)) + data)
            count += 1
    pipeline.set_state(Gst.State.NULL)
    print(f"encoded {count} frames", file=sys.stderr)


def is_key_frame(unit: bytes) -> bool:
    """Whether an H.264 access unit (Annex B) holds an IDR slice (NAL unit type 5)."""
    position = unit.find(b"\x00\x00\x01")
    while position >= 0 and position + 3 < len(unit):
        if unit[position + 3] & 0x1F == 5:
            return True
        position = unit.find(b"\x00\x00\x01", position + 3)
    return False


def staggered_start(units: list[bytes], wanted: int) -> int:
    """The index of the key frame at or before unit `wanted` (modulo the clip's length)."""
    index = wanted % len(units)
    while index > 0 and not is_key_frame(units[index]):
        index -= 1
    return index


def load_clip(path: str) -> list[bytes]:
    units = []
    with open(path, "rb") as stored:
        while header := stored.read(RECORD.size):
            (length,) = RECORD.unpack(header)
            units.append(stored.read(length))
    if not units:
        raise SystemExit(f"{path}: no frames")
    return units


class ClipFactory(GstRtspServer.RTSPMediaFactory):
    """One pipeline per client: an appsrc fed with the stored access units, looped."""

    def __init__(self, units: list[bytes], width: int, height: int, fps: int, start: int = 0):
        super().__init__()
        self.units = units
        self.start = start
        self.fps = fps
        self.caps = (
            "video/x-h264,stream-format=byte-stream,alignment=au,"
            f"width={width},height={height},framerate={fps}/1"
        )
        self.set_shared(False)
        self.connect("media-configure", self._configure)

    def do_create_element(self, url):
        return Gst.parse_launch(
            f'( appsrc name=src is-live=false format=time caps="{self.caps}" '
            "! rtph264pay name=pay0 pt=96 )"
        )

    def _configure(self, _factory, media):
        source = media.get_element().get_by_name("src")
        state = {"index": 0}
        duration = Gst.SECOND // self.fps

        def need_data(appsrc, _length):
            index = state["index"]
            unit = self.units[(self.start + index) % len(self.units)]
            buffer = Gst.Buffer.new_wrapped(unit)
            buffer.pts = buffer.dts = index * duration
            buffer.duration = duration
            state["index"] = index + 1
            appsrc.emit("push-buffer", buffer)

        source.connect("need-data", need_data)


class AudioFactory(GstRtspServer.RTSPMediaFactory):
    """A mount with one audio track and no video, as an intercom or audio-only encoder has."""

    def do_create_element(self, url):
        return Gst.parse_launch(
            "( audiotestsrc is-live=true wave=sine ! audioconvert "
            "! audio/x-raw,format=S16BE,channels=1,rate=8000 ! rtpL16pay name=pay0 pt=96 )"
        )


def serve(args: argparse.Namespace) -> None:
    units = load_clip(args.clip)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    factories: list[GstRtspServer.RTSPMediaFactory] = []
    for number, name in enumerate(args.mount or ["cam"]):
        start = staggered_start(units, round(number * args.stagger * args.fps))
        factory = ClipFactory(units, args.width, args.height, args.fps, start)
        mounts.add_factory(f"/{name}", factory)
        factories.append(factory)
    if args.audio_mount:
        audio = AudioFactory()
        mounts.add_factory(f"/{args.audio_mount}", audio)
        factories.append(audio)
    if args.user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "viewer")
        if args.digest:
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
            auth.add_digest(args.user, args.password, token)
        else:
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), token)
        server.set_auth(auth)
        for factory in factories:
            permissions = GstRtspServer.RTSPPermissions()
            permissions.add_permission_for_role(
                "viewer", GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS, True
            )
            permissions.add_permission_for_role(
                "viewer", GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, True
            )
            factory.set_permissions(permissions)
    if server.attach(None) == 0:
        raise SystemExit(f"cannot listen on 127.0.0.1:{args.port}")
    loop = GLib.MainLoop()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    print(f"ready {server.get_bound_port()}", flush=True)
    loop.run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    encode_cmd = commands.add_parser("encode")
    encode_cmd.add_argument("--out", required=True)
    encode_cmd.add_argument("--gop", type=int, help="frames from key frame to key frame")
    encode_cmd.add_argument("--fixed-gop", action="store_true", help="no key frames but those")
    serve_cmd = commands.add_parser("serve")
    serve_cmd.add_argument("--port", type=int, required=True)
    serve_cmd.add_argument("--clip", required=True)
    serve_cmd.add_argument("--mount", action="append")
    serve_cmd.add_argument("--audio-mount")
    serve_cmd.add_argument("--user")
    serve_cmd.add_argument("--password")
    serve_cmd.add_argument("--digest", action="store_true", help="digest, not basic, auth")
    serve_cmd.add_argument("--stagger", type=float, default=0.0, help="seconds between mounts")
    for command in (encode_cmd, serve_cmd):
        command.add_argument("--width", type=int, default=768)
        command.add_argument("--height", type=int, default=576)
        command.add_argument("--fps", type=int, default=10)
    args = parser.parse_args()
    Gst.init(None)
    GstApp  # noqa: B018 - imported for its typelib: appsrc/appsink signals need it
    if args.command == "encode":
        encode(args.out, args.width, args.height, args.fps, args.gop, args.fixed_gop)
    else:
        serve(args)


if __name__ == "__main__":
    main()
