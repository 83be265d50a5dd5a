"""What a GB/T 28181 registration costs the SIP service: N devices register over loopback UDP
(REGISTER, 401 challenge, REGISTER with the MD5 digest, 200), first time (the service then sends
each a Catalog query) against re-registration, in the same run.

Figures: registrations per second and the per-device round trip (both REGISTERs), median and
95th percentile. The devices are plain sockets in this process, one after another, so the figure
is the service's latency, not its concurrency.

Usage: python bench/gb28181_register.py [--devices 500]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import re
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gridwatch.gb28181.service import Gb28181Service, Gb28181Settings  # noqa: E402
from gridwatch.machine import describe  # noqa: E402

PASSWORD = "bench-password"  # noqa: S105 - a throw-away service for the benchmark
DOMAIN = "3402000000"


def register(sock: socket.socket, port: int, device_id: str, cseq: int) -> None:
    local = sock.getsockname()

    def request(extra: str, n: int) -> bytes:
        return (
            f"REGISTER sip:34020000002000000001@{DOMAIN} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {local[0]}:{local[1]};rport;branch=z9hG4bK{device_id}{n}\r\n"
            f"From: <sip:{device_id}@{DOMAIN}>;tag=b{cseq}\r\nTo: <sip:{device_id}@{DOMAIN}>\r\n"
            f"Call-ID: {device_id}-{cseq}\r\nCSeq: {n} REGISTER\r\n"
            f"Contact: <sip:{device_id}@{local[0]}:{local[1]}>\r\n{extra}Expires: 3600\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode()

    def answer() -> str:
        while True:  # skip the platform's Catalog query, which comes after the 200
            text = sock.recv(65535).decode()
            if text.startswith("SIP/2.0"):
                return text

    sock.sendto(request("", cseq), ("127.0.0.1", port))
    challenge = answer()
    nonce = re.search(r'nonce="([^"]+)"', challenge)
    assert challenge.startswith("SIP/2.0 401") and nonce, challenge
    uri = f"sip:34020000002000000001@{DOMAIN}"

    def md5(text: str) -> str:
        return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()

    digest = md5(f"{md5(f'{device_id}:{DOMAIN}:{PASSWORD}')}:{nonce[1]}:{md5(f'REGISTER:{uri}')}")
    auth = (
        f'Authorization: Digest username="{device_id}", realm="{DOMAIN}", nonce="{nonce[1]}", '
        f'uri="{uri}", response="{digest}", algorithm=MD5\r\n'
    )
    sock.sendto(request(auth, cseq + 1), ("127.0.0.1", port))
    assert answer().startswith("SIP/2.0 200"), "not registered"


def run(devices: int) -> None:
    settings = Gb28181Settings(host="127.0.0.1", password=PASSWORD)
    service = Gb28181Service(settings)
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()

    async def start() -> None:
        await loop.create_datagram_endpoint(lambda: service, local_addr=("127.0.0.1", 0))

    asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    assert service.transport is not None
    port = service.transport.get_extra_info("sockname")[1]
    sockets = []
    for _ in range(devices):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(10)
        sockets.append(sock)
    ids = [f"3402000000132{n:07d}" for n in range(devices)]
    print(describe())
    for label, cseq in (("first registration", 1), ("re-registration", 10)):
        times = []
        started = time.perf_counter()
        for sock, device_id in zip(sockets, ids, strict=True):
            t0 = time.perf_counter()
            register(sock, port, device_id, cseq)
            times.append((time.perf_counter() - t0) * 1000)
        wall = time.perf_counter() - started
        times.sort()
        print(
            f"{label:>19}: {devices / wall:7.0f} registrations/s, round trip median "
            f"{statistics.median(times):.2f} ms, p95 {times[int(len(times) * 0.95)]:.2f} ms"
        )
    assert len(service.devices) == devices
    loop.call_soon_threadsafe(loop.stop)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=500)
    run(parser.parse_args().devices)
