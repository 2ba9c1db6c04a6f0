"""The clinic and duty desk: server-rendered pages under ``/desk`` (not in the OpenAPI).

Log in with a form; then one page lists the open alerts and the open fever cases, with forms
to acknowledge and clear alerts, add follow-ups and close cases. Every change goes through the
same service functions as the API (:class:`LifecycleService` for alerts,
:mod:`thermogate.records.services.cases` for cases), so the rules are the API's whatever the
page shows; every read and change of health data is audited as the API audits it. After a
change the browser is sent back to the page (303), so reloading never repeats a change.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any, Final, TypeVar

import jinja2
from fastapi import APIRouter, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlalchemy.orm import Session

from thermogate.alerts.lifecycle.service import LifecycleError, LifecycleService
from thermogate.records import lifecycle
from thermogate.records.api.cases import CloseIn, FollowUpIn
from thermogate.records.api.deps import ContextDep, SessionDep, principal_from_token
from thermogate.records.audit import audit
from thermogate.records.desk import session as desk_session
from thermogate.records.desk import views
from thermogate.records.fields import RowId
from thermogate.records.models import FeverCase
from thermogate.records.security.roles import Principal, Role
from thermogate.records.security.tokens import issue_token
from thermogate.records.services.cases import (
    CaseForbiddenError,
    CaseStateError,
    add_follow_up,
    close,
    visible_case,
)
from thermogate.records.services.users import authenticate

log = logging.getLogger(__name__)

router = APIRouter(prefix=desk_session.PATH, include_in_schema=False)
templates = Jinja2Templates(
    env=jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
)

DONE: Final = {
    "acknowledged": "Alert #{ref} acknowledged: escalation has stopped.",
    "alert-cleared": "Alert #{ref} cleared.",
    "follow-up": "Entry added to case #{ref}.",
    "case-closed": "Case #{ref} closed.",
}
"""What the page says after a change (``?done=…&ref=…``)."""
PAGE_ROLES: Final = frozenset(
    {Role.ADMIN, Role.DUTY, Role.CLINIC, Role.UNIT_SUPERVISOR, Role.GRID_LEADER}
)
"""Accounts of people; the gateway's machine account has no desk."""

Csrf = Annotated[str | None, Form(alias=desk_session.CSRF_FIELD)]


class _RefusedError(Exception):
    """A request the desk answers with an error page."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def _caller(request: Request, context: ContextDep, session: SessionDep) -> Principal | None:
    """The logged-in desk user, or None (no cookie, expired, deactivated, machine account)."""
    token = request.cookies.get(desk_session.SESSION_COOKIE)
    if not token:
        return None
    try:
        who = principal_from_token(token, context, session)
    except Exception:  # noqa: BLE001 - any refusal of the token means: log in again
        return None
    return who if who.role in PAGE_ROLES else None


def _to_login(expired: bool) -> RedirectResponse:
    url = f"{desk_session.PATH}/login" + ("?expired=1" if expired else "")
    response = RedirectResponse(url, status.HTTP_303_SEE_OTHER)
    if expired:
        desk_session.clear_session(response)
    return response


def _error(request: Request, refused: _RefusedError) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        "error.html",
        {"status_code": refused.status_code, "message": refused.message},
        status_code=refused.status_code,
    )


def _check_csrf(request: Request, context: ContextDep, sent: str | None) -> None:
    token = request.cookies.get(desk_session.SESSION_COOKIE)
    if not desk_session.csrf_valid(context, "session", token, sent):
        log.warning(
            "desk form refused: CSRF token missing or wrong", extra={"path": request.url.path}
        )
        raise _RefusedError(
            status.HTTP_403_FORBIDDEN,
            "This form is not valid (CSRF token missing or wrong). Reload the page and try again.",
        )


def _done(code: str, ref: int) -> RedirectResponse:
    return RedirectResponse(f"{desk_session.PATH}?done={code}&ref={ref}", status.HTTP_303_SEE_OTHER)


@router.get("/login", response_class=HTMLResponse)
def login_page(
    request: Request, context: ContextDep, session: SessionDep, expired: bool = False
) -> Response:
    """The login form (a logged-in user goes straight to the desk)."""
    if _caller(request, context, session) is not None:
        return RedirectResponse(desk_session.PATH, status.HTTP_303_SEE_OTHER)
    return _login_form(
        request, context, "Your session has ended; log in again." if expired else None
    )


def _login_form(
    request: Request, context: ContextDep, message: str | None, status_code: int = 200
) -> HTMLResponse:
    nonce, new = desk_session.login_nonce(request)
    response = templates.TemplateResponse(
        request,
        "login.html",
        {"csrf": desk_session.csrf_token(context, "login", nonce), "message": message},
        status_code=status_code,
    )
    if new:
        desk_session.set_login_nonce(response, request, nonce)
    return response


@router.post("/login", response_class=HTMLResponse)
def login(
    *,
    request: Request,
    context: ContextDep,
    session: SessionDep,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=200)] = "",
    csrf: Csrf = None,
) -> Response:
    """Check the password; keep the access token in the session cookie."""
    nonce = request.cookies.get(desk_session.LOGIN_COOKIE)
    if not desk_session.csrf_valid(context, "login", nonce, csrf):
        log.warning("desk login refused: CSRF token missing or wrong")
        return _login_form(
            request,
            context,
            "The form had expired; please log in again.",
            status.HTTP_403_FORBIDDEN,
        )
    user = authenticate(session, username, password)
    if user is None:
        log.info("desk login refused", extra={"user": username[:64]})
        return _login_form(
            request, context, "Wrong user name or password.", status.HTTP_401_UNAUTHORIZED
        )
    if Role(user.role) not in PAGE_ROLES:
        return _login_form(
            request,
            context,
            f"The {user.role} account cannot use the desk.",
            status.HTTP_403_FORBIDDEN,
        )
    minutes = context.settings.records.token_minutes
    token = issue_token(
        user.username,
        context.settings.records.jwt_secret.get_secret_value(),
        context.clock(),
        minutes,
    )
    response = RedirectResponse(desk_session.PATH, status.HTTP_303_SEE_OTHER)
    desk_session.set_session(response, request, token, minutes * 60)
    log.info("desk login", extra={"user": user.username, "role": user.role})
    return response


@router.post("/logout", response_class=HTMLResponse)
def logout(request: Request, context: ContextDep, csrf: Csrf = None) -> Response:
    """Forget the session."""
    try:
        _check_csrf(request, context, csrf)
    except _RefusedError as refused:
        return _error(request, refused)
    response = RedirectResponse(f"{desk_session.PATH}/login", status.HTTP_303_SEE_OTHER)
    desk_session.clear_session(response)
    return response


@router.get("", response_class=HTMLResponse)
def desk(
    request: Request,
    context: ContextDep,
    session: SessionDep,
    done: str | None = None,
    ref: int | None = None,
) -> Response:
    """Open alerts and open cases, with what the caller may do to each."""
    who = _caller(request, context, session)
    if who is None:
        return _to_login(expired=desk_session.SESSION_COOKIE in request.cookies)
    now = context.clock()
    cases = views.open_cases(session, who, now)
    audit(session, who, at=now, action="read", resource="fever_case", detail="desk: open cases")
    running = lifecycle.state(request.app)
    alerts = None
    if running is not None:
        alerts = views.open_alerts(running.service, session, who, now, cases)
        audit(session, who, at=now, action="read", resource="alert", detail="desk: open alerts")
    session.commit()
    message = DONE[done].format(ref=ref) if done in DONE and ref is not None else None
    context_vars: dict[str, Any] = {
        "who": who,
        "alerts": alerts,
        "cases": cases,
        "may_close": views.may_close_cases(who),
        "csrf": desk_session.csrf_token(
            context, "session", request.cookies[desk_session.SESSION_COOKIE]
        ),
        "message": message,
        "now": now,
    }
    return templates.TemplateResponse(request, "desk.html", context_vars)


@router.post("/alerts/{alert_id}/ack", response_class=HTMLResponse)
def acknowledge(
    alert_id: RowId, request: Request, context: ContextDep, session: SessionDep, csrf: Csrf = None
) -> Response:
    """raised → acknowledged, as the logged-in user (the lifecycle's rules)."""
    who = _caller(request, context, session)
    if who is None:
        return _to_login(expired=True)
    try:
        _check_csrf(request, context, csrf)
        _lifecycle(request).acknowledge(alert_id, views.actor_of(who))
    except _RefusedError as refused:
        return _error(request, refused)
    except LifecycleError as exc:
        return _error(request, _RefusedError(exc.status, exc.reason))
    audit(
        session,
        who,
        at=context.clock(),
        action="update",
        resource="alert",
        resource_id=alert_id,
        detail="desk: acknowledged",
    )
    session.commit()
    return _done("acknowledged", alert_id)


@router.post("/alerts/{alert_id}/clear", response_class=HTMLResponse)
def clear_alert(
    *,
    alert_id: RowId,
    request: Request,
    context: ContextDep,
    session: SessionDep,
    note: Annotated[str, Form(max_length=2000)] = "",
    csrf: Csrf = None,
) -> Response:
    """→ cleared: fever kinds by the clinic, the others by duty or admin (the lifecycle's rules)."""
    who = _caller(request, context, session)
    if who is None:
        return _to_login(expired=True)
    try:
        _check_csrf(request, context, csrf)
        _lifecycle(request).clear(alert_id, views.actor_of(who), note.strip() or None)
    except _RefusedError as refused:
        return _error(request, refused)
    except LifecycleError as exc:
        return _error(request, _RefusedError(exc.status, exc.reason))
    audit(
        session,
        who,
        at=context.clock(),
        action="close",
        resource="alert",
        resource_id=alert_id,
        detail="desk: cleared",
    )
    session.commit()
    return _done("alert-cleared", alert_id)


@router.post("/cases/{case_id}/follow-ups", response_class=HTMLResponse)
def follow_up(
    *,
    case_id: RowId,
    request: Request,
    context: ContextDep,
    session: SessionDep,
    kind: Annotated[str, Form(max_length=32)] = "",
    temp_c: Annotated[str, Form(max_length=16)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
    csrf: Csrf = None,
) -> Response:
    """Add a re-measurement, a clinic visit or a note to an open case."""
    who = _caller(request, context, session)
    if who is None:
        return _to_login(expired=True)
    try:
        _check_csrf(request, context, csrf)
        entry = _valid(
            FollowUpIn,
            {"kind": kind, "temp_c": temp_c.strip() or None, "note": note.strip() or None},
        )
        case, _ = _case(session, who, case_id)
        now = context.clock()
        added = add_follow_up(
            session,
            case,
            kind=entry.kind,
            at=now,
            author=who.username,
            temp_c=entry.temp_c,
            note=entry.note,
        )
    except _RefusedError as refused:
        return _error(request, refused)
    except CaseStateError as exc:
        return _error(request, _RefusedError(status.HTTP_409_CONFLICT, str(exc)))
    audit(session, who, at=now, action="create", resource="follow_up", resource_id=added.id)
    session.commit()
    return _done("follow-up", case_id)


@router.post("/cases/{case_id}/close", response_class=HTMLResponse)
def close_case(
    *,
    case_id: RowId,
    request: Request,
    context: ContextDep,
    session: SessionDep,
    outcome: Annotated[str, Form(max_length=2000)] = "",
    csrf: Csrf = None,
) -> Response:
    """Clear a case: the clinic only, whatever the page showed (the service checks the role)."""
    who = _caller(request, context, session)
    if who is None:
        return _to_login(expired=True)
    now = context.clock()
    try:
        _check_csrf(request, context, csrf)
        body = _valid(CloseIn, {"outcome": outcome.strip()})
        case, _ = _case(session, who, case_id)
        close(case, who, now, body.outcome)
    except _RefusedError as refused:
        return _error(request, refused)
    except CaseForbiddenError as exc:
        return _error(request, _RefusedError(status.HTTP_403_FORBIDDEN, str(exc)))
    except CaseStateError as exc:
        return _error(request, _RefusedError(status.HTTP_409_CONFLICT, str(exc)))
    audit(session, who, at=now, action="close", resource="fever_case", resource_id=case_id)
    session.commit()
    return _done("case-closed", case_id)


def _lifecycle(request: Request) -> LifecycleService:
    running = lifecycle.state(request.app)
    if running is None:
        raise _RefusedError(
            status.HTTP_503_SERVICE_UNAVAILABLE, "The alert lifecycle is not running here."
        )
    return running.service


def _case(session: Session, who: Principal, case_id: int) -> tuple[FeverCase, str | None]:
    found = visible_case(session, who, case_id)
    if found is None:
        raise _RefusedError(status.HTTP_404_NOT_FOUND, f"Case #{case_id} not found.")
    return found


_Form = TypeVar("_Form", FollowUpIn, CloseIn)


def _valid(model: type[_Form], data: dict[str, Any]) -> _Form:
    """The form as the API's body model (the same validation), or a 422 page."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'form'}: {e['msg']}" for e in exc.errors()
        )
        raise _RefusedError(status.HTTP_422_UNPROCESSABLE_CONTENT, problems) from None
