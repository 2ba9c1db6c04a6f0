"""The records service's tables, one small module per subject, all on the shared ``Base``.

Importing this package registers every table on :data:`thermogate.records.db.Base.metadata`
(Alembic's target); docs/records.md lists the tables and columns.
"""

from thermogate.records.models.audit import AuditEntry
from thermogate.records.models.cases import FeverCase, FollowUp
from thermogate.records.models.leave import LeaveRequest
from thermogate.records.models.places import Building, Device, DormUnit, Entrance, Room
from thermogate.records.models.roster import DutyShift
from thermogate.records.models.screening import Absence, ScreeningCheck
from thermogate.records.models.staff import GridMember, GridUnit, Staff
from thermogate.records.models.students import Student
from thermogate.records.models.users import User

__all__ = [
    "Absence",
    "AuditEntry",
    "Building",
    "Device",
    "DormUnit",
    "DutyShift",
    "Entrance",
    "FeverCase",
    "FollowUp",
    "GridMember",
    "GridUnit",
    "LeaveRequest",
    "Room",
    "ScreeningCheck",
    "Staff",
    "Student",
    "User",
]
