"""Leave overdue: the ``leave_overdue`` alerts the records service raises for the lifecycle.

One alert per leave (``alert_id`` ``leave_overdue:<leave id>``), so raising them again every
minute changes nothing in the lifecycle, which deduplicates by alert id. The alert carries
the pseudonymous id and the building, never the name.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from thermogate.contract.messages import Alert, AlertKind, Severity
from thermogate.records.models import Building, LeaveRequest, Student


def overdue_alerts(session: Session, now: dt.datetime) -> list[Alert]:
    """An alert for every leave still ``out`` after ``returns_by``, oldest first."""
    rows = session.execute(
        select(LeaveRequest, Student.person_id, Building.slug)
        .join(Student, Student.id == LeaveRequest.student_id)
        .join(Building, Building.id == Student.building_id)
        .where(LeaveRequest.status == "out", LeaveRequest.returns_by < now)
        .order_by(LeaveRequest.returns_by, LeaveRequest.id)
    )
    return [
        Alert(
            alert_id=f"leave_overdue:{leave.id}",
            kind=AlertKind.LEAVE_OVERDUE,
            severity=Severity.WARNING,
            building=building,
            person_id=person_id,
            ts=leave.returns_by,
            raised_at=now,
            message=f"leave {leave.id} overdue: due back at {leave.returns_by.isoformat()}",
        )
        for leave, person_id, building in rows
    ]
