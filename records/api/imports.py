"""``POST /import/{kind}``: a CSV of students, staff, rooms or the roster, all rows or none."""

from __future__ import annotations

from typing import Annotated, Final, Literal

from fastapi import APIRouter, Body, HTTPException, status
from pydantic import BaseModel

from thermogate.records.api.deps import AdminUser, ContextDep, SessionDep
from thermogate.records.api.errors import responses
from thermogate.records.services.importer import ImportFailedError, import_csv

router = APIRouter(tags=["import"])

MAX_BYTES: Final = 20 * 1024 * 1024


class ImportOut(BaseModel):
    """How many rows were new and how many updated existing ones."""

    kind: str
    created: int
    updated: int


@router.post(
    "/import/{kind}",
    responses={
        **responses(403),
        422: {"description": "Refused: each item of `detail` names its row and column."},
    },
)
def import_file(
    kind: Literal["students", "staff", "rooms", "roster"],
    csv_text: Annotated[
        str, Body(media_type="text/csv", max_length=MAX_BYTES, description="UTF-8 CSV")
    ],
    _: AdminUser,
    session: SessionDep,
    context: ContextDep,
) -> ImportOut:
    """Import a CSV (header row first) in one transaction; re-importing updates rows by key."""
    try:
        result = import_csv(session, kind, csv_text.lstrip("\ufeff"), context.pseudonym_key)
    except ImportFailedError as exc:
        raise HTTPException(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=[
                {
                    "loc": ["body", e.row, e.column],
                    "msg": f"row {e.row}, column {e.column}: {e.message}",
                    "type": "csv_row",
                    "row": e.row,
                    "column": e.column,
                    "message": e.message,
                }
                for e in exc.errors
            ],
        ) from None
    session.commit()
    return ImportOut(kind=result.kind, created=result.created, updated=result.updated)
