"""Leave: requested -> approved | refused; approved -> out -> returned.

A return is closed by the student's next entrance reading after going out (see
:func:`close_by_reading`) or by hand; a leave still ``out`` after ``returns_by`` is overdue.
"""

from __future__ import annotations

import datetime as dt
from typing import Final, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from thermogate.records.models import LeaveRequest

LeaveAction = Literal["approve", "refuse", "out", "return"]
TRANSITIONS: Final[dict[LeaveAction, tuple[str, str]]] = {
    "approve": ("requested", "approved"),
    "refuse": ("requested", "refused"),
    "out": ("approved", "out"),
    "return": ("out", "returned"),
}
"""Each action: the status it needs and the status it leaves."""


class LeaveStateError(ValueError):
    """The action does not apply in the leave's current status."""


def apply(leave: LeaveRequest, action: LeaveAction, who: str, at: dt.datetime) -> None:
    """Move ``leave`` by ``action``; :class:`LeaveStateError` if its status does not allow it."""
    needed, after = TRANSITIONS[action]
    if leave.status != needed:
        raise LeaveStateError(f"cannot {action} a leave that is {leave.status}")
    leave.status = after
    if action in ("approve", "refuse"):
        leave.decided_by, leave.decided_at = who, at
    elif action == "out":
        leave.out_at = at
    else:
        leave.returned_at, leave.return_source = at, f"user:{who}"


def close_by_reading(session: Session, student_id: int, at: dt.datetime, reading_id: str) -> bool:
    """Close the student's leave that is ``out`` since before ``at``; True if one was closed."""
    leave = session.scalar(
        select(LeaveRequest)
        .where(
            LeaveRequest.student_id == student_id,
            LeaveRequest.status == "out",
            LeaveRequest.out_at <= at,
        )
        .order_by(LeaveRequest.out_at)
        .limit(1)
    )
    if leave is None:
        return False
    leave.status = "returned"
    leave.returned_at = at
    leave.return_source = f"reading:{reading_id}"
    return True


def is_overdue(leave: LeaveRequest, now: dt.datetime) -> bool:
    """Whether the student is still out after the time they were due back."""
    return leave.status == "out" and leave.returns_by < now
