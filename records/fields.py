"""Constrained input fields: values the API and the imports accept fit their columns anywhere."""

from __future__ import annotations

from typing import Annotated

from pydantic import AwareDatetime, Field, StringConstraints

NO_NUL = r"^[^\x00]*$"
"""PostgreSQL text cannot hold NUL characters."""


Key = Annotated[
    str, StringConstraints(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
]
"""An external key: student number, staff number, unit or grid unit code."""
SlugText = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,47}$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=120, pattern=NO_NUL)]
Short = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=NO_NUL)]
Note = Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=NO_NUL)]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=NO_NUL)]
RowId = Annotated[int, Field(ge=1, le=2**31 - 1)]
TempC = Annotated[float, Field(ge=30.0, le=45.0, allow_inf_nan=False)]
Instant = AwareDatetime
"""A time with an offset (a naive time is refused: 422)."""
