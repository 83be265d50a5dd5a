"""Sends the SIP service's device reports to the API and remembers each device's admission.

The service talks to the API over HTTP with the worker token, like a worker (`ApiClient`), so
the API stays the one writer of the database and every report is validated by the same
`contract.gb28181` models. Reports go from a thread of their own: the SIP loop never waits on
HTTP; the newest report of a device replaces one not yet sent, and a failed one is sent again
after a backoff unless a newer one came.
"""

from __future__ import annotations

import logging
import threading

from pydantic import ValidationError

from contract.gb28181 import Admission, ChannelReport, DeviceAdmission, DeviceReport
from gridwatch.api_client import ApiClient, ApiError
from gridwatch.gb28181.manscdp import Channel

log = logging.getLogger(__name__)


def device_report(
    online: bool, address: tuple[str, int], channels: list[Channel] | None
) -> DeviceReport:
    """The API's shape of a device as the service knows it (channels None: catalog unchanged)."""
    return DeviceReport(
        online=online,
        address=f"{address[0]}:{address[1]}",
        channels=None
        if channels is None
        else [
            ChannelReport(
                channel_id=c.channel_id, name=c.name, manufacturer=c.manufacturer,
                model=c.model, civil_code=c.civil_code, status=c.status,
                longitude=c.longitude, latitude=c.latitude,
            )
            for c in channels
        ],
    )  # fmt: skip


class ApiReporter:
    """Reports devices to the API from a background thread.

    Args:
        api: The client (worker token) to send through.
        retry_s: Seconds before a failed report is sent again.
    """

    def __init__(self, api: ApiClient, retry_s: float = 5.0):
        self.api = api
        self.retry_s = retry_s
        self.admissions: dict[str, Admission] = {}
        self.sent = 0
        self._pending: dict[str, DeviceReport] = {}
        self._wake = threading.Condition()
        self._stopping = False
        self._busy = False  # a report is on its way
        self._thread = threading.Thread(target=self._run, name="gb28181-reports", daemon=True)
        self._thread.start()

    def admission(self, device_id: str) -> Admission | None:
        """What the API last said of the device (None: not asked yet)."""
        return self.admissions.get(device_id)

    def report(self, device_id: str, report: DeviceReport) -> None:
        """Queue `report`; a catalog queued earlier and not yet sent is kept."""
        with self._wake:
            earlier = self._pending.get(device_id)
            if report.channels is None and earlier is not None and earlier.channels is not None:
                report = report.model_copy(update={"channels": earlier.channels})
            self._pending[device_id] = report
            self._wake.notify()

    def idle(self) -> bool:
        """True when every queued report has been answered."""
        with self._wake:
            return not self._pending and not self._busy

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._pending and not self._stopping:
                    self._wake.wait()
                if self._stopping:
                    return
                device_id = next(iter(self._pending))
                report = self._pending.pop(device_id)
                self._busy = True
            try:
                answer = DeviceAdmission.model_validate(
                    self.api.call(
                        "PUT", f"/api/v1/worker/gb28181/devices/{device_id}",
                        json=report.model_dump(mode="json"),
                    )
                )  # fmt: skip
                self.admissions[device_id] = answer.admission
                self.sent += 1
            except (ApiError, ValidationError) as err:
                log.warning("%s: report not delivered, again in %.0f s (%s)", device_id,
                            self.retry_s, err)  # fmt: skip
                with self._wake:
                    self._pending.setdefault(device_id, report)
                    self._wake.wait(self.retry_s)
            finally:
                with self._wake:
                    self._busy = False

    def close(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify()
        self._thread.join(10)
        self.api.close()
