"""HTTP errors the routers raise, worded the same everywhere."""

from __future__ import annotations

from typing import Any, Final

from fastapi import HTTPException, status


def not_found(what: str) -> HTTPException:
    """404: ``what`` does not exist, or the caller may not see it."""
    return HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=f"{what} not found")


def conflict(detail: str) -> HTTPException:
    """409: the request contradicts what is stored."""
    return HTTPException(status_code=status.HTTP_409_CONFLICT, detail=detail)


def unprocessable(detail: str, *loc: str | int) -> HTTPException:
    """422: a reference in the request names nothing known.

    The body has FastAPI's validation-error shape (a list of ``loc``, ``msg``, ``type``), so
    every 422 of the API matches the one schema the OpenAPI document gives for it.
    """
    return HTTPException(
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        detail=[{"loc": list(loc) or ["body"], "msg": detail, "type": "value_error"}],
    )


DESCRIPTIONS: Final[dict[int, str]] = {
    403: "The caller's role may not do this.",
    404: "Not found, or outside the caller's scope.",
    409: "Already exists, or not allowed in the current state.",
    422: "Invalid input, or a reference to nothing known.",
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The documented error answers of an endpoint, for the OpenAPI document."""
    return {code: {"description": DESCRIPTIONS[code]} for code in codes}
