"""The clinic and duty desk over plain HTTP: login, CSRF, the role rules, scope and the audit
log, each checked by what the API then reports (the same store the page changed)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from desk_rig import (
    CLINIC,
    DUTY,
    GATEWAY,
    STUDENT_NAME,
    WARDEN,
    DeskBrowser,
    DeskSite,
    desk_service,
    raise_fever,
)
from records_rig import BACKEND_PARAMS

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(params=BACKEND_PARAMS)
def site(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DeskSite]:
    with desk_service(request.param, tmp_path) as site:
        yield site


@pytest.fixture
def fever(site: DeskSite) -> tuple[int, int]:
    """A raised fever alert of S001 and its open case: (alert id, case id)."""
    taken = raise_fever(site)
    alert_id, case_id = taken["lifecycle_alert_id"], taken["case_id"]
    assert isinstance(alert_id, int) and isinstance(case_id, int)
    return alert_id, case_id


def api_alert(site: DeskSite, alert_id: int) -> dict:
    with site.rig.client() as admin:
        return admin.get(f"/alerts/{alert_id}").json()


def api_case(site: DeskSite, case_id: int) -> dict:
    with site.rig.client() as admin:
        return admin.get(f"/cases/{case_id}").json()


def test_a_wrong_password_is_refused_and_leaves_no_session(site: DeskSite) -> None:
    with DeskBrowser(site.rig.url) as browser:
        refused = browser.login(CLINIC, "not-the-password")
        assert refused.status_code == 401
        assert "Wrong user name or password." in refused.text
        assert "tg_desk" not in browser.http.cookies
        page = browser.page()
        assert page.url.path == "/desk/login"


def test_login_without_the_forms_token_is_refused(site: DeskSite) -> None:
    with DeskBrowser(site.rig.url) as browser:
        browser.http.get("/desk/login")
        response = browser.http.post(
            "/desk/login", data={"username": CLINIC, "password": f"{CLINIC}-password"}
        )
        assert response.status_code == 403
        assert "tg_desk" not in browser.http.cookies


def test_the_session_cookie_is_httponly_and_samesite_strict(site: DeskSite) -> None:
    with DeskBrowser(site.rig.url) as browser:
        response = browser.login(CLINIC)
        assert response.status_code == 303
        assert response.headers["location"] == "/desk"
        cookie = next(
            h for h in response.headers.get_list("set-cookie") if h.startswith("tg_desk=")
        )
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
        assert "Path=/desk" in cookie


def test_the_gateway_account_has_no_desk(site: DeskSite) -> None:
    with DeskBrowser(site.rig.url) as browser:
        response = browser.login(GATEWAY)
        assert response.status_code == 403
        assert "cannot use the desk" in response.text


def test_clinic_sees_acknowledges_follows_up_and_clears(
    site: DeskSite, fever: tuple[int, int]
) -> None:
    alert_id, case_id = fever
    with DeskBrowser(site.rig.url) as browser:
        assert browser.login(CLINIC).status_code == 303
        page = browser.page().text
        assert f'id="alert-{alert_id}"' in page and f'id="case-{case_id}"' in page
        assert STUDENT_NAME in page and "unit u01" in page

        acked = browser.submit(f"/desk/alerts/{alert_id}/ack", {})
        assert acked.status_code == 303
        assert api_alert(site, alert_id)["acknowledged_by"] == f"clinic:{CLINIC}"
        shown = browser.http.get(acked.headers["location"]).text
        assert f"Alert #{alert_id} acknowledged: escalation has stopped." in shown

        added = browser.submit(
            f"/desk/cases/{case_id}/follow-ups", {"kind": "remeasurement", "temp_c": "37.9"}
        )
        assert added.status_code == 303
        entries = api_case(site, case_id)["follow_ups"]
        assert [(e["kind"], e["temp_c"], e["author"]) for e in entries if e["kind"] != "alert"] == [
            ("remeasurement", 37.9, CLINIC)
        ]

        closed = browser.submit(f"/desk/cases/{case_id}/close", {"outcome": "influenza, home rest"})
        assert closed.status_code == 303
        case = api_case(site, case_id)
        assert (case["status"], case["closed_by"], case["outcome"]) == (
            "closed",
            CLINIC,
            "influenza, home rest",
        )
        cleared = browser.submit(f"/desk/alerts/{alert_id}/clear", {"note": "seen at the clinic"})
        assert cleared.status_code == 303
        alert = api_alert(site, alert_id)
        assert (alert["state"], alert["clear_note"]) == ("cleared", "seen at the clinic")
        page = browser.page().text
        assert "No open alerts." in page and "No open cases." in page

    with site.rig.client() as admin:
        audit = admin.get("/audit", params={"username": CLINIC}).json()
    done = {(a["action"], a["resource"]) for a in audit}
    assert {
        ("read", "fever_case"),
        ("read", "alert"),
        ("update", "alert"),
        ("create", "follow_up"),
        ("close", "fever_case"),
        ("close", "alert"),
    } <= done
    assert not any(STUDENT_NAME in (a["detail"] or "") for a in audit)


def test_duty_acknowledges_but_cannot_clear_a_fever_or_close_its_case(
    site: DeskSite, fever: tuple[int, int]
) -> None:
    alert_id, case_id = fever
    with DeskBrowser(site.rig.url) as browser:
        browser.login(DUTY)
        page = browser.page().text
        assert STUDENT_NAME in page
        assert 'data-action="close-case"' not in page
        assert 'data-action="clear-alert"' not in page
        assert browser.submit(f"/desk/alerts/{alert_id}/ack", {}).status_code == 303

        refused = browser.submit(f"/desk/cases/{case_id}/close", {"outcome": "fine"})
        assert refused.status_code == 403
        assert "clinic only" in refused.text
        assert api_case(site, case_id)["status"] == "open"

        refused = browser.submit(f"/desk/alerts/{alert_id}/clear", {"note": "fine"})
        assert refused.status_code == 403
        assert api_alert(site, alert_id)["state"] == "acknowledged"

        # What duty may do to a case: add an entry.
        added = browser.submit(
            f"/desk/cases/{case_id}/follow-ups", {"kind": "note", "note": "sent to the clinic"}
        )
        assert added.status_code == 303


def test_a_form_without_its_csrf_token_changes_nothing(
    site: DeskSite, fever: tuple[int, int]
) -> None:
    alert_id, case_id = fever
    with DeskBrowser(site.rig.url) as browser:
        browser.login(CLINIC)
        for action, fields in (
            (f"/desk/alerts/{alert_id}/ack", {}),
            (f"/desk/cases/{case_id}/close", {"outcome": "fine"}),
            (f"/desk/cases/{case_id}/follow-ups", {"kind": "note", "note": "x"}),
        ):
            refused = browser.submit(action, fields, csrf=False)
            assert refused.status_code == 403, action
            assert "CSRF" in refused.text
        forged = browser.http.post(f"/desk/alerts/{alert_id}/ack", data={"csrf": "0" * 64})
        assert forged.status_code == 403
    assert api_alert(site, alert_id)["state"] == "raised"
    case = api_case(site, case_id)
    assert case["status"] == "open" and len(case["follow_ups"]) == 1


def test_a_token_of_another_session_is_refused(site: DeskSite, fever: tuple[int, int]) -> None:
    alert_id, _ = fever
    with DeskBrowser(site.rig.url) as first, DeskBrowser(site.rig.url) as second:
        first.login(CLINIC)
        second.login(DUTY)
        token_of_duty = second.page().text.split('name="csrf" value="')[1].split('"')[0]
        refused = first.http.post(f"/desk/alerts/{alert_id}/ack", data={"csrf": token_of_duty})
        assert refused.status_code == 403
    assert api_alert(site, alert_id)["state"] == "raised"


def test_a_unit_supervisor_sees_no_name_or_case_outside_their_unit(
    site: DeskSite, fever: tuple[int, int]
) -> None:
    alert_id, case_id = fever
    with DeskBrowser(site.rig.url) as browser:
        browser.login(WARDEN)
        page = browser.page().text
        assert f'id="alert-{alert_id}"' in page and site.person_id in page
        assert STUDENT_NAME not in page
        assert f'id="case-{case_id}"' not in page
        refused = browser.submit(f"/desk/cases/{case_id}/follow-ups", {"kind": "note", "note": "x"})
        assert refused.status_code == 404
    assert len(api_case(site, case_id)["follow_ups"]) == 1


def test_a_bad_follow_up_is_refused_with_the_apis_rule(
    site: DeskSite, fever: tuple[int, int]
) -> None:
    _, case_id = fever
    with DeskBrowser(site.rig.url) as browser:
        browser.login(CLINIC)
        refused = browser.submit(f"/desk/cases/{case_id}/follow-ups", {"kind": "remeasurement"})
        assert refused.status_code == 422
        assert "a remeasurement needs temp_c" in refused.text
        refused = browser.submit(
            f"/desk/cases/{case_id}/follow-ups", {"kind": "remeasurement", "temp_c": "99"}
        )
        assert refused.status_code == 422
    assert len(api_case(site, case_id)["follow_ups"]) == 1


def test_an_expired_session_goes_back_to_the_login(site: DeskSite, fever: tuple[int, int]) -> None:
    alert_id, _ = fever
    with DeskBrowser(site.rig.url) as browser:
        browser.login(CLINIC)
        token = browser.page().text.split('name="csrf" value="')[1].split('"')[0]
        site.clock.set(site.clock.now + dt.timedelta(days=2))
        page = browser.page()
        assert page.url.path == "/desk/login"
        assert "Your session has ended" in page.text
        # The session cookie is gone; sending the old one by hand is refused all the same.
        response = browser.http.post(f"/desk/alerts/{alert_id}/ack", data={"csrf": token})
        assert response.status_code == 303
        assert response.headers["location"].startswith("/desk/login")
    assert api_alert(site, alert_id)["state"] == "raised"


def test_logout_ends_the_session(site: DeskSite) -> None:
    with DeskBrowser(site.rig.url) as browser:
        browser.login(CLINIC)
        assert browser.submit("/desk/logout", {}).status_code == 303
        assert browser.page().url.path == "/desk/login"


def test_the_desk_is_not_in_the_openapi_document(site: DeskSite) -> None:
    with site.rig.client() as admin:
        paths = admin.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith("/desk")]
