"""The clinic and duty desk in headless Chromium (Debian's, driven by Playwright), against a
real uvicorn server on a fresh database: a fever alert arrives through the gateway's
integration endpoint, the clinic logs in, sees it, acknowledges it, adds a follow-up and
clears the case; duty cannot clear; a wrong password and a form without its CSRF token are
refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from desk_rig import CLINIC, DUTY, STUDENT_NAME, DeskSite, desk_service, password, raise_fever
from playwright.sync_api import Browser, Page, expect, sync_playwright
from records_rig import BACKEND_PARAMS

pytestmark = pytest.mark.timeout(240)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(params=BACKEND_PARAMS)
def site(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DeskSite]:
    with desk_service(request.param, tmp_path) as site:
        yield site


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    yield context.new_page()
    context.close()


def log_in(page: Page, url: str, username: str, secret: str | None = None) -> None:
    page.goto(f"{url}/desk")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password(username) if secret is None else secret)
    page.get_by_role("button", name="Log in").click()


def test_clinic_acknowledges_follows_up_and_clears_in_the_browser(
    site: DeskSite, page: Page
) -> None:
    taken = raise_fever(site)
    alert_id, case_id = taken["lifecycle_alert_id"], taken["case_id"]
    url = site.rig.url

    log_in(page, url, CLINIC, "wrong-password")
    expect(page.get_by_role("alert")).to_have_text("Wrong user name or password.")

    log_in(page, url, CLINIC)
    alert_row = page.locator(f"#alert-{alert_id}")
    expect(alert_row).to_contain_text("fever")
    expect(alert_row).to_contain_text("critical")
    expect(alert_row).to_contain_text(site.person_id)
    expect(alert_row).to_contain_text(STUDENT_NAME)
    expect(alert_row.locator(".state")).to_have_text("raised")

    alert_row.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_role("status")).to_have_text(
        f"Alert #{alert_id} acknowledged: escalation has stopped."
    )
    expect(page.locator(f"#alert-{alert_id} .state")).to_contain_text("acknowledged")

    case = page.locator(f"#case-{case_id}")
    case.get_by_label(f"entry kind for case {case_id}").select_option("remeasurement")
    case.get_by_label(f"temperature for case {case_id}").fill("38.2")
    case.get_by_label(f"note for case {case_id}").fill("second reading, oral")
    case.get_by_role("button", name="Add entry").click()
    expect(page.get_by_role("status")).to_have_text(f"Entry added to case #{case_id}.")
    expect(page.locator(f"#case-{case_id} .entries li")).to_have_count(2)
    expect(page.locator(f"#case-{case_id} .entries li", has_text="remeasurement")).to_contain_text(
        "remeasurement · 38.2 °C · second reading, oral"
    )

    page.locator(f"#case-{case_id}").get_by_label(f"outcome for case {case_id}").fill(
        "influenza; isolated in room"
    )
    page.locator(f"#case-{case_id}").get_by_role("button", name="Clear case").click()
    expect(page.get_by_role("status")).to_have_text(f"Case #{case_id} closed.")
    expect(page.locator(f"#case-{case_id}")).to_have_count(0)

    with site.rig.client() as admin:
        closed = admin.get(f"/cases/{case_id}").json()
        alert = admin.get(f"/alerts/{alert_id}").json()
    assert (closed["status"], closed["closed_by"]) == ("closed", CLINIC)
    assert alert["acknowledged_by"] == f"clinic:{CLINIC}"

    # A form posted without its CSRF token, with the session cookie the browser holds.
    refused = page.request.post(
        f"{url}/desk/alerts/{alert_id}/clear", form={"note": "forged"}, max_redirects=0
    )
    assert refused.status == 403
    with site.rig.client() as admin:
        assert admin.get(f"/alerts/{alert_id}").json()["state"] == "acknowledged"


def test_duty_cannot_clear_a_case_in_the_browser(site: DeskSite, page: Page) -> None:
    taken = raise_fever(site)
    case_id = taken["case_id"]
    url = site.rig.url
    log_in(page, url, DUTY)
    case = page.locator(f"#case-{case_id}")
    expect(case).to_contain_text(STUDENT_NAME)
    expect(case.get_by_role("button", name="Clear case")).to_have_count(0)

    # The button is not there, and the rule does not depend on it: the same form, sent
    # with this session's own CSRF token, is refused by the service.
    csrf = case.locator('input[name="csrf"]').first.get_attribute("value")
    assert csrf
    refused = page.request.post(
        f"{url}/desk/cases/{case_id}/close",
        form={"outcome": "fine", "csrf": csrf},
        max_redirects=0,
    )
    assert refused.status == 403
    assert "clinic only" in refused.text()
    page.reload()
    expect(page.locator(f"#case-{case_id}")).to_have_count(1)
