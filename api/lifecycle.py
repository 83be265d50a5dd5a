"""The grid-event lifecycle: which action moves an event from which state to which, and who may.

reported -> verifying -> confirmed | false_alarm -> dispatched -> handling -> resolved -> closed,
with rework (resolved -> handling), escalation (one level up, state unchanged) and merge.

A department that is not the right one for a dispatched event either hands it back to the
command center (`send_back`, 退回: back to `confirmed`, unrouted, with the reason, for the
operator to dispatch again) or passes it straight to the right department (`reassign`, 改派:
`dispatched` again, to the department named, its clock restarted). Both need a reason.
Acknowledgement ("seen, someone is on it") is recorded once and changes no state.

Intake (the district policy's `intake`): a video incident either files a case at once (routed
to a department, its deadline running) or, with `intake: verify`, waits as an alert in
`reported` state, unrouted and with no deadline, for an operator's verdict: verify or confirm
files the case (routes it, starts its clock), reject ends it. It stays `reported` rather than
getting a state of its own because `reported` already means "waiting for an operator's verdict";
what differs is only whether the case's clock runs, which is data (department, deadline,
`expires_at`), so statistics, Open311, MQTT and every console page keep their one vocabulary of
states. An alert nobody verified before `expires_at` is ended by the deadline watch (`expire`,
state `expired`, the reason in its history).

A false-alarm verdict (reject) may also ask that the same thing not be raised again: a
suppression around the incident's object (api/suppressions.py), made by an operator or an admin.

A handled (resolved) event is closed by the on-site check: the grid worker of its cell goes
there and either closes it with at least one photo, or sends it back to handling (a rework,
counted). An operator may close it instead only with a reason; the history tells the two apart
(`close` with closure "on_site_check", `operator_close` with closure "operator").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from api.district import OPEN_STATES, DistrictPolicy, Intake, next_level
from api.models import Department, GridEvent, GridEventHistory, User, UserGrid
from api.principal import Principal
from api.schemas import SuppressOnReject
from api.suppressions import suppression_from_incident


@dataclass(frozen=True)
class Transition:
    sources: frozenset[str]
    target: str | None  # None: the state does not change
    roles: frozenset[str]
    description: str


def _t(
    sources: tuple[str, ...], target: str | None, roles: tuple[str, ...], text: str
) -> Transition:
    return Transition(frozenset(sources), target, frozenset((*roles, "admin")), text)


VERDICT_FROM = ("reported", "verifying")
TRANSITIONS: dict[str, Transition] = {
    "verify": _t(("reported",), "verifying", ("operator",), "send to a grid worker to verify"),
    "confirm": _t(VERDICT_FROM, "confirmed", ("operator", "grid_worker"), "confirmed real"),
    "reject": _t(VERDICT_FROM, "false_alarm", ("operator", "grid_worker"), "a false alarm"),
    "dispatch": _t(("confirmed",), "dispatched", ("operator",), "dispatch to a department"),
    "accept": _t(("dispatched",), "handling", ("handler",), "department takes it on"),
    "resolve": _t(("handling",), "resolved", ("handler",), "department reports it handled"),
    "send_back": _t(("dispatched", "handling"), "confirmed", ("handler",),
                    "not this department's: back to the command center to dispatch again"),
    "reassign": _t(("dispatched", "handling"), "dispatched", ("handler", "operator"),
                   "not this department's: passed to the department named"),
    "close": _t(("resolved",), "closed", ("grid_worker",), "checked on site and closed (photo)"),
    "operator_close": _t(("resolved",), "closed", ("operator",),
                         "closed without the on-site check, for a stated reason"),
    "rework": _t(("resolved",), "handling", ("grid_worker", "operator"),
                 "the check found it not handled: back to handling"),
    "acknowledge": _t(OPEN_STATES, None, ("operator",), "seen: someone is on it"),
    "escalate": _t(OPEN_STATES, None, ("operator",), "hand up one level"),
    "merge": _t(OPEN_STATES, "merged", ("operator",), "a duplicate, folded into another event"),
    "comment": _t((*OPEN_STATES, "closed", "false_alarm"), None,
                  ("operator", "grid_worker", "handler", "camera_owner"), "add a note or photo"),
    "expire": _t(("reported",), "expired", (),
                 "an alert nobody verified in time leaves the queue (the deadline watch)"),
}  # fmt: skip

# A grid worker acts only on events in their own cells; a handler only on their department's.
NEEDS_NOTE = {"reject", "rework", "merge", "operator_close", "expire", "send_back", "reassign"}
# The on-site check closes an event only with evidence of what the grid worker found.
NEEDS_PHOTO = {"close"}
CLOSURE = {"close": "on_site_check", "operator_close": "operator"}
# Who may turn a false-alarm verdict into a suppression: those who watch the alerts, not the
# grid worker on the spot.
SUPPRESSORS = {"operator", "admin"}
# An operator's verdicts that file an alert waiting for verification as a case.
FILES_CASE = {"verify", "confirm"}


class TransitionError(Exception):
    """An action that is not allowed now. Not retried; `status` is the HTTP status to answer,
    `code` and `params` name the fault for a client to word in its reader's language
    (api.problems), `detail` words it in English."""

    def __init__(self, status: int, detail: str, code: str = "", **params: Any):
        self.status = status
        self.detail = detail
        self.code = code
        self.params = params
        super().__init__(detail)


@dataclass
class ActionRequest:
    note: str = ""
    department_id: str | None = None
    assignee_id: int | None = None
    into_event_id: int | None = None
    photo_count: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    suppress: SuppressOnReject | None = None


def allowed_actions(event: GridEvent, principal: Principal) -> list[str]:
    if principal.role == "handler" and (
        principal.user is None or event.department_id != principal.user.department_id
    ):
        return []  # sent back or passed on: readable in their done list, no longer theirs
    return [
        name
        for name, transition in TRANSITIONS.items()
        if event.status in transition.sources
        and principal.role in transition.roles
        and not (name == "acknowledge" and event.acknowledged_at is not None)
        and not (name == "expire" and not awaits_verdict(event))
    ]


def awaits_verdict(event: GridEvent) -> bool:
    """Whether the event is an alert in the queue: taken in for verification, no verdict yet."""
    return event.intake == Intake.verify.value and event.status == "reported"


def take_in(event: GridEvent, policy: DistrictPolicy, rule: str) -> None:
    """Apply the district's intake to a new video event (after its clock was opened): with
    `intake: verify` it waits as an alert, unrouted and without a deadline, until `expires_at`."""
    entry = policy.intake_for(event.category, rule)
    if entry is None or entry.intake is Intake.file:
        event.intake = Intake.file.value
        return
    event.intake = Intake.verify.value
    event.department_id = None
    event.deadline_at = None
    if entry.expire_after_minutes is not None:
        event.expires_at = event.reported_at + timedelta(minutes=entry.expire_after_minutes)
    report = event.history[-1]
    report.details = {
        **(report.details or {}),
        "intake": Intake.verify.value,
        "expires_at": event.expires_at.isoformat() if event.expires_at else None,
    }


def apply_action(
    session: Session,
    event: GridEvent,
    action: str,
    principal: Principal,
    request: ActionRequest,
    policy: DistrictPolicy,
    *,
    now: datetime | None = None,
) -> GridEventHistory:
    """Apply `action` to `event` (already known visible to the caller); returns the history row."""
    now = now or datetime.now(UTC)
    transition = TRANSITIONS.get(action)
    if transition is None:
        raise TransitionError(
            404, f"no action {action!r}; actions: {', '.join(TRANSITIONS)}",
            "action_unknown", action=action,
        )  # fmt: skip
    if principal.role not in transition.roles:
        raise TransitionError(
            403, f"a {principal.role} may not {action} an event",
            "action_role", role=principal.role, action=action,
        )  # fmt: skip
    if event.status not in transition.sources:
        raise TransitionError(
            409, f"cannot {action} an event that is {event.status}"
            f" (allowed from: {', '.join(sorted(transition.sources))})",
            "action_state", action=action, state=event.status,
        )  # fmt: skip
    if action in NEEDS_NOTE and not request.note.strip():
        raise TransitionError(
            422, f"note: say why ({action} needs a reason)", "note_required", action=action
        )
    if action in NEEDS_PHOTO and request.photo_count < 1:
        raise TransitionError(
            422, f"photos: the on-site check needs at least one photo to {action} an event",
            "photo_required", action=action,
        )  # fmt: skip

    if request.suppress is not None:
        _check_suppress(event, action, principal)

    details: dict[str, Any] = dict(request.details)
    previous = event.status
    alert = awaits_verdict(event)
    if action == "expire" and not alert:
        raise TransitionError(
            409, "only an alert waiting for verification (intake: verify) expires",
            "expire_not_alert",
        )  # fmt: skip
    if alert and action in FILES_CASE:
        # The verdict files the alert as a case: routed now, its clock starts below.
        owner_kind = event.camera.organisation.kind if event.camera else None
        event.department_id = policy.route(event.category, owner_kind, event.event_code)
        details["filed"] = True
        details["department_id"] = event.department_id
    if action == "acknowledge":
        if event.acknowledged_at is not None:
            raise TransitionError(
                409, f"already acknowledged by {event.acknowledged_by}"
                f" at {event.acknowledged_at.isoformat()}",
                "already_acknowledged", by=event.acknowledged_by,
                at=event.acknowledged_at.isoformat(),
            )  # fmt: skip
        event.acknowledged_at, event.acknowledged_by = now, principal.name
    elif action == "verify":
        if request.assignee_id is not None:
            event.assignee_id = _grid_worker_for(session, event, request.assignee_id).id
            details["assignee_id"] = event.assignee_id
    elif action == "dispatch":
        department_id = request.department_id or event.department_id
        if department_id is None or session.get(Department, department_id) is None:
            raise TransitionError(
                422, "department_id: name a department to dispatch to", "department_required"
            )
        event.department_id = department_id
        event.dispatched_at = now
        details["department_id"] = department_id
    elif action == "send_back":
        details["from_department_id"] = event.department_id
        event.department_id = None
        event.dispatched_at = None
    elif action == "reassign":
        department_id = request.department_id
        if department_id is None or session.get(Department, department_id) is None:
            raise TransitionError(
                422, "department_id: name the department to pass it to", "department_required"
            )
        if department_id == event.department_id:
            raise TransitionError(
                422, f"department_id: the event is already {department_id}'s",
                "department_same", department_id=department_id,
            )  # fmt: skip
        details["from_department_id"], details["department_id"] = event.department_id, department_id
        event.department_id = department_id
        event.dispatched_at = now
    elif action == "escalate":
        level = next_level(event.level)
        if level is None:
            raise TransitionError(409, "already handled at district level", "top_level")
        details["from_level"], details["to_level"] = event.level, level
        event.level = level
        event.escalations += 1
    elif action == "merge":
        target = _merge_target(session, event, request.into_event_id)
        event.merged_into_id = target.id
        details["into_event_id"] = target.id
    elif action == "reject" and request.suppress is not None:
        details["suppression_id"] = _suppress(session, event, principal, request, now)
    elif action == "rework":
        event.reworks += 1
        details["rework"] = event.reworks
    elif action == "resolve":
        # Kept so that evaluation can tell whether handling met its deadline.
        details["deadline_at"] = event.deadline_at.isoformat() if event.deadline_at else None
        details["on_time"] = event.deadline_at is None or now <= event.deadline_at
    if action in CLOSURE:
        event.closed_at = now
        details["closure"] = CLOSURE[action]
    if transition.target is not None:
        event.status = transition.target
        if previous == "reported":
            event.expires_at = None
    if (transition.target is not None or action == "escalate") and not awaits_verdict(event):
        event.deadline_at = policy.deadline(event.status, event.severity, now, event.event_code)
    step = GridEventHistory(
        actor=principal.actor,
        action=action,
        from_status=previous,
        to_status=event.status,
        note=request.note.strip(),
        details=details,
        at=now,
    )
    event.history.append(step)
    event.updated_at = now
    session.flush()
    return step


def _check_suppress(event: GridEvent, action: str, principal: Principal) -> None:
    if action != "reject":
        raise TransitionError(
            422, f"suppress: only a false-alarm verdict (reject), not {action}",
            "suppress_not_reject", action=action,
        )  # fmt: skip
    if principal.role not in SUPPRESSORS:
        raise TransitionError(
            403, f"a {principal.role} may not suppress a camera's alerts",
            "suppress_role", role=principal.role,
        )  # fmt: skip
    if event.incident is None:
        raise TransitionError(
            422, "suppress: only an event raised by a camera can be suppressed",
            "suppress_no_camera",
        )  # fmt: skip


def _suppress(
    session: Session,
    event: GridEvent,
    principal: Principal,
    request: ActionRequest,
    now: datetime,
) -> int:
    """Leave a suppression around the event's incident; returns its id."""
    assert event.incident is not None and request.suppress is not None
    try:
        suppression = suppression_from_incident(
            event.incident,
            request.suppress,
            actor=principal.actor,
            grid_event_id=event.id,
            note=request.note.strip(),
            now=now,
        )
    except ValueError as err:
        raise TransitionError(422, f"suppress: {err}") from err
    session.add(suppression)
    session.flush()
    return suppression.id


def _grid_worker_for(session: Session, event: GridEvent, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None or user.role != "grid_worker" or not user.active:
        raise TransitionError(
            422, f"assignee_id: {user_id} is not an active grid worker",
            "assignee_not_worker", assignee_id=user_id,
        )  # fmt: skip
    if event.grid_id is None or session.get(UserGrid, (user.id, event.grid_id)) is None:
        raise TransitionError(
            422, f"assignee_id: {user.username} does not work grid {event.grid_id}",
            "assignee_other_grid", assignee=user.username, grid_id=event.grid_id,
        )  # fmt: skip
    return user


def _merge_target(session: Session, event: GridEvent, into_id: int | None) -> GridEvent:
    if into_id is None:
        raise TransitionError(
            422, "into_event_id: name the event to merge into", "merge_target_required"
        )
    if into_id == event.id:
        raise TransitionError(
            422, "into_event_id: an event cannot merge into itself", "merge_into_itself"
        )
    target = session.get(GridEvent, into_id)
    if target is None or target.status not in OPEN_STATES:
        raise TransitionError(
            422, f"into_event_id: {into_id} is not an open event",
            "merge_target_closed", into_event_id=into_id,
        )  # fmt: skip
    return target
