"""CSV import of students, staff, rooms and the roster: all rows or none, errors per cell.

The file is UTF-8 with a header row naming the columns (any order; unknown columns are an
error, so a typo is never silently ignored). Every row is validated and applied in the
caller's transaction; if any row fails, :class:`ImportFailedError` lists every problem with
its row (the header is row 1) and column, and the caller rolls back. Rows are keyed
(student number, staff number, building and room number, building+staff+role+start), so a
re-import updates and never duplicates.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from thermogate.records.services.people import (
    RowError,
    StaffIn,
    StudentIn,
    upsert_staff,
    upsert_student,
)
from thermogate.records.services.places import RoomIn, upsert_room
from thermogate.records.services.roster import ShiftIn, upsert_shift

MAX_ROWS: Final = 100_000
LIST_COLUMNS: Final = frozenset({"notify_urls"})
"""Columns holding several values, separated by spaces or semicolons."""


@dataclass(frozen=True, slots=True)
class CellError:
    """What is wrong, where."""

    row: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}, column {self.column}: {self.message}"


class ImportFailedError(Exception):
    """The file was refused; nothing of it was kept."""

    def __init__(self, errors: list[CellError]) -> None:
        super().__init__(f"{len(errors)} problems; nothing imported")
        self.errors = errors


@dataclass(frozen=True, slots=True)
class ImportResult:
    """How many rows were new and how many updated existing ones."""

    kind: str
    created: int
    updated: int


@dataclass(frozen=True, slots=True)
class Kind:
    """One importable kind: its row model, its key columns and its upsert."""

    model: type[BaseModel]
    key: tuple[str, ...]
    apply: Callable[[Session, Any, bytes], bool]


KINDS: Final[dict[str, Kind]] = {
    "students": Kind(StudentIn, ("student_no",), upsert_student),
    "staff": Kind(StaffIn, ("staff_no",), lambda s, r, _k: upsert_staff(s, r)),
    "rooms": Kind(RoomIn, ("building", "number"), lambda s, r, _k: upsert_room(s, r)),
    "roster": Kind(
        ShiftIn, ("building", "staff_no", "role", "starts_at"), lambda s, r, _k: upsert_shift(s, r)
    ),
}


def import_csv(session: Session, kind: str, text: str, pseudonym_key: bytes) -> ImportResult:
    """Validate and apply every row of ``text``; raise :class:`ImportFailedError` on any error.

    On failure the session is rolled back here, so nothing of the file remains.
    """
    spec = KINDS.get(kind)
    if spec is None:
        raise ImportFailedError([CellError(0, "kind", f"unknown kind {kind!r}")])
    reader = csv.DictReader(io.StringIO(text))
    errors = _header_errors(reader.fieldnames, spec.model)
    if errors:
        raise ImportFailedError(errors)
    created = updated = 0
    seen: dict[tuple[str, ...], int] = {}
    for number, raw in enumerate(reader, start=2):
        if number > MAX_ROWS + 1:
            errors.append(CellError(number, "-", f"more than {MAX_ROWS} rows"))
            break
        if None in raw:
            errors.append(CellError(number, "-", "more cells than header columns"))
            continue
        document = {k: _cell(k, v) for k, v in raw.items() if v is not None}
        try:
            row = spec.model.model_validate(document)
        except ValidationError as exc:
            errors.extend(
                CellError(number, str(e["loc"][0]) if e["loc"] else "-", e["msg"])
                for e in exc.errors()
            )
            continue
        key = tuple(str(getattr(row, c)) for c in spec.key)
        if key in seen:
            errors.append(
                CellError(number, spec.key[0], f"same key as row {seen[key]}: {'/'.join(key)}")
            )
            continue
        seen[key] = number
        try:
            if spec.apply(session, row, pseudonym_key):
                created += 1
            else:
                updated += 1
        except RowError as exc:
            errors.append(CellError(number, exc.column, str(exc)))
        except IntegrityError as exc:
            session.rollback()
            errors.append(CellError(number, "-", f"conflicts with stored data: {exc.orig}"))
            break
    if errors:
        session.rollback()
        raise ImportFailedError(errors)
    return ImportResult(kind, created, updated)


def _header_errors(fields: Any, model: type[BaseModel]) -> list[CellError]:
    if not fields:
        return [CellError(1, "-", "empty file: a header row is needed")]
    known = set(model.model_fields)
    required = {name for name, f in model.model_fields.items() if f.is_required()}
    errors = [CellError(1, f, "unknown column") for f in fields if f not in known]
    errors += [CellError(1, f, "missing column") for f in sorted(required - set(fields))]
    return errors


def _cell(column: str, value: str) -> Any:
    """A cell as the row model expects it: empty is absent, lists are split."""
    value = value.strip()
    if column in LIST_COLUMNS:
        return [v for v in value.replace(";", " ").split() if v]
    return value or None
