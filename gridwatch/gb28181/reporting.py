"""Sends the SIP service's device reports and alarms to the API, and keeps what the API says of
each device: its admission and, when an admin gave it one, its own password.

The service talks to the API over HTTP with the worker token, like a worker (`ApiClient`), so
the API stays the one writer of the database and every report is validated by the same
`contract.gb28181` models. Reports go from a thread of their own: the SIP loop never waits on
HTTP; the newest report of a device replaces one not yet sent, and a failed one is sent again
after a backoff unless a newer one came. Alarms are each sent, in order, until the API has them
(the API keeps one alarm once however often it comes). Devices' passwords and admissions are
fetched every `credentials_s` (GET /api/v1/worker/gb28181/credentials), so a password an admin
sets, or a refusal, holds at the device's next REGISTER.
"""

from __future__ import annotations

import logging
import threading
import time

from pydantic import ValidationError

from contract.gb28181 import (
    Admission,
    AlarmRecorded,
    AlarmReport,
    ChannelReport,
    DeviceAdmission,
    DeviceCredential,
    DeviceReport,
)
from gridwatch.api_client import ApiClient, ApiError, ApiRefused
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
        credentials_s: Seconds between fetches of the devices' passwords and admissions.
    """

    def __init__(self, api: ApiClient, retry_s: float = 5.0, credentials_s: float = 10.0):
        self.api = api
        self.retry_s = retry_s
        self.credentials_s = credentials_s
        self.admissions: dict[str, Admission] = {}
        self.sent = 0
        self.alarms: list[AlarmRecorded] = []  # the API's answers, in order
        self._passwords: dict[str, str] = {}
        self._credentials_at = float("-inf")
        self._pending: dict[str, DeviceReport] = {}
        self._alarms: list[AlarmReport] = []
        self._wake = threading.Condition()
        self._stopping = False
        self._busy = False  # a report is on its way
        self._thread = threading.Thread(target=self._run, name="gb28181-reports", daemon=True)
        self._thread.start()

    def admission(self, device_id: str) -> Admission | None:
        """What the API last said of the device (None: not asked yet)."""
        return self.admissions.get(device_id)

    def password(self, device_id: str) -> str | None:
        """The device's own password (None: it has none; the platform's applies)."""
        return self._passwords.get(device_id)

    def alarm(self, alarm: AlarmReport) -> None:
        """Queue `alarm`; it is sent after those queued before it."""
        with self._wake:
            self._alarms.append(alarm)
            self._wake.notify()

    def refresh_credentials(self) -> None:
        """Ask for the credentials at the next turn of the thread (tests, an admin's change)."""
        with self._wake:
            self._credentials_at = float("-inf")
            self._wake.notify()

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
            return (
                not self._pending and not self._alarms and not self._busy
                and time.monotonic() - self._credentials_at < self.credentials_s
            )  # fmt: skip

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._stopping and not self._pending and not self._alarms:
                    due = self._credentials_at + self.credentials_s - time.monotonic()
                    if due <= 0:
                        break
                    self._wake.wait(due)
                if self._stopping:
                    return
                self._busy = True
            if time.monotonic() - self._credentials_at >= self.credentials_s:
                self._fetch_credentials()
            with self._wake:  # reports first: an alarm's device is known to the API before it
                alarm = self._alarms[0] if self._alarms and not self._pending else None
            if alarm is not None:
                self._send_alarm(alarm)
                continue
            with self._wake:
                if not self._pending:
                    self._busy = False
                    continue
                device_id = next(iter(self._pending))
                report = self._pending.pop(device_id)
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

    def _fetch_credentials(self) -> None:
        try:
            answer = self.api.call("GET", "/api/v1/worker/gb28181/credentials")
            credentials = [DeviceCredential.model_validate(item) for item in answer]
        except (ApiError, ValidationError, TypeError) as err:
            log.warning("devices' passwords not fetched, again in %.0f s (%s)", self.retry_s, err)
            self._credentials_at = time.monotonic() - self.credentials_s + self.retry_s
            return
        self._passwords = {c.device_id: c.password for c in credentials if c.password}
        for credential in credentials:
            self.admissions[credential.device_id] = credential.admission
        self._credentials_at = time.monotonic()

    def _send_alarm(self, alarm: AlarmReport) -> None:
        try:
            answer = AlarmRecorded.model_validate(
                self.api.call(
                    "POST", "/api/v1/worker/gb28181/alarms", json=alarm.model_dump(mode="json")
                )
            )
        except ApiRefused as err:
            # The API will never take it (a field out of its bounds, a device it does not
            # know, since the device's own report goes first): said once, not repeated.
            if err.status_code in (404, 422):
                log.error("%s: alarm %d refused by the API (%s)", alarm.device_id, alarm.sn, err)
                with self._wake:
                    self._alarms.pop(0)
                    self._busy = False
                return
            self._alarm_failed(alarm, err)
            return
        except (ApiError, ValidationError) as err:
            self._alarm_failed(alarm, err)
            return
        with self._wake:
            self._alarms.pop(0)
            self.alarms.append(answer)
            self._busy = False

    def _alarm_failed(self, alarm: AlarmReport, err: Exception) -> None:
        log.warning("%s: alarm %d not delivered, again in %.0f s (%s)", alarm.device_id,
                    alarm.sn, self.retry_s, err)  # fmt: skip
        with self._wake:
            self._busy = False
            self._wake.wait(self.retry_s)

    def close(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify()
        self._thread.join(10)
        self.api.close()
