"""The lifecycle API over HTTP: list, read, acknowledge, clear, and the signed links (valid,
expired, tampered, for another alert or action). The records service's login is stood in for
by overriding ``current_actor`` from two request headers, as its app overrides it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI, Header
from fastapi.testclient import TestClient
from lifecycle_kit import (
    BASE_URL,
    DUTY,
    LIAISON,
    SECRET,
    FakeClock,
    MemoryRoster,
    device_alert,
    engine_for,
    make_alert,
    make_service,
)
from sqlalchemy.engine import Engine

from thermogate.alerts.lifecycle.api import LifecycleState, current_actor, router
from thermogate.alerts.lifecycle.links import LinkAction, LinkSigner
from thermogate.alerts.lifecycle.policy import Actor
from thermogate.alerts.lifecycle.service import LifecycleService
from thermogate.contract.messages import AlertKind

CLINIC = {"x-user": "u-clinic", "x-role": "clinic"}
DESK = {"x-user": "u-duty", "x-role": "duty"}


def actor_from_headers(
    x_user: str | None = Header(None), x_role: str | None = Header(None)
) -> Actor:
    if x_user is None or x_role is None:
        return current_actor()  # the placeholder's 401
    return Actor(x_user, x_role)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = engine_for(f"sqlite:///{tmp_path / 'api.sqlite3'}")
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def service(engine: Engine, clock: FakeClock) -> LifecycleService:
    return make_service(engine, MemoryRoster(first=(LIAISON, DUTY)), clock)


@pytest.fixture
def links(clock: FakeClock) -> LinkSigner:
    return LinkSigner(SECRET, dt.timedelta(hours=24), BASE_URL, clock)


@pytest.fixture
def client(service: LifecycleService, links: LinkSigner) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(router)
    app.state.alert_lifecycle = LifecycleState(service, links)
    app.dependency_overrides[current_actor] = actor_from_headers
    with TestClient(app) as client:
        yield client


def opened_id(service: LifecycleService, **kw: object) -> int:
    result = service.ingest(make_alert(**kw))  # type: ignore[arg-type]
    assert result.alert_id is not None
    return result.alert_id


def test_without_a_user_every_route_but_the_links_is_401(client, service):
    alert_id = opened_id(service)
    assert client.get("/alerts").status_code == 401
    assert client.get(f"/alerts/{alert_id}").status_code == 401
    assert client.post(f"/alerts/{alert_id}/ack").status_code == 401
    assert client.post(f"/alerts/{alert_id}/clear").status_code == 401


def test_without_the_lifecycle_the_routes_are_503():
    app = FastAPI()
    app.include_router(router)
    app.dependency_overrides[current_actor] = actor_from_headers
    with TestClient(app) as client:
        assert client.get("/alerts", headers=DESK).status_code == 503


def test_list_read_acknowledge_clear(client, service, clock):
    alert_id = opened_id(service)
    listed = client.get("/alerts", headers=DESK).json()
    assert [(a["id"], a["state"], a["kind"]) for a in listed] == [(alert_id, "raised", "fever")]
    assert listed[0]["person_id"] == "p-0a1b2c3d"

    clock.advance(minutes=3)
    acked = client.post(f"/alerts/{alert_id}/ack", headers=DESK)
    assert acked.status_code == 200
    assert acked.json()["state"] == "acknowledged"
    assert acked.json()["acknowledged_by"] == "duty:u-duty"

    refused = client.post(f"/alerts/{alert_id}/clear", headers=DESK, json={"note": "x"})
    assert refused.status_code == 403
    assert "clinic" in refused.json()["detail"]

    cleared = client.post(f"/alerts/{alert_id}/clear", headers=CLINIC, json={"note": "normal"})
    assert cleared.status_code == 200
    assert (cleared.json()["state"], cleared.json()["clear_note"]) == ("cleared", "normal")
    assert client.get("/alerts", headers=DESK).json() == []
    assert [a["id"] for a in client.get("/alerts?state=cleared", headers=DESK).json()] == [alert_id]

    detail = client.get(f"/alerts/{alert_id}", headers=CLINIC).json()
    assert [e["action"] for e in detail["events"]] == ["raised", "acknowledged", "cleared"]
    again = client.post(f"/alerts/{alert_id}/clear", headers=CLINIC)
    assert again.status_code == 409


def test_duty_clears_a_device_alert_and_the_clinic_cannot(client, service):
    result = service.ingest(device_alert(AlertKind.DEVICE_OFFLINE))
    assert client.post(f"/alerts/{result.alert_id}/clear", headers=CLINIC).status_code == 403
    assert client.post(f"/alerts/{result.alert_id}/clear", headers=DESK).status_code == 200


def test_unknown_alerts_and_roles(client, service):
    assert client.get("/alerts/999", headers=DESK).status_code == 404
    assert client.post("/alerts/999/ack", headers=DESK).status_code == 404
    student = {"x-user": "s-1", "x-role": "student"}
    assert client.get("/alerts", headers=student).status_code == 403
    alert_id = opened_id(service)
    assert client.post(f"/alerts/{alert_id}/ack", headers=student).status_code == 403
    assert client.get("/alerts?state=bogus", headers=DESK).status_code == 422


# -- signed links ----------------------------------------------------------------------------


def test_a_valid_ack_link_shows_a_confirm_page_and_its_post_acknowledges(client, service, links):
    alert_id = opened_id(service)
    token = links.token(alert_id, LinkAction.ACK, "c-liaison")
    shown = client.get(f"/alerts/{alert_id}/ack-link", params={"token": token})
    assert shown.status_code == 200
    assert "text/html" in shown.headers["content-type"]
    assert f"Acknowledge alert #{alert_id}?" in shown.text
    assert service.get(alert_id)[0].state == "raised"  # a GET changes nothing

    done = client.post(f"/alerts/{alert_id}/ack-link", data={"token": token})
    assert done.status_code == 200
    assert "escalation has stopped" in done.text
    row, _ = service.get(alert_id)
    assert (row.state, row.acknowledged_by) == ("acknowledged", "contact:c-liaison")
    again = client.get(f"/alerts/{alert_id}/ack-link", params={"token": token})
    assert again.status_code == 200
    assert "acknowledged" in again.text


def test_an_expired_link_is_410_with_a_page_saying_so(client, service, links, clock):
    alert_id = opened_id(service)
    token = links.token(alert_id, LinkAction.ACK, "c-liaison")
    clock.advance(hours=24)
    shown = client.get(f"/alerts/{alert_id}/ack-link", params={"token": token})
    assert shown.status_code == 410
    assert "Link expired" in shown.text
    posted = client.post(f"/alerts/{alert_id}/ack-link", data={"token": token})
    assert posted.status_code == 410
    assert service.get(alert_id)[0].state == "raised"


def test_tampered_foreign_and_misused_links_are_403(client, service, links, clock):
    alert_id = opened_id(service)
    other_id = opened_id(service, seq=2, person="p-other")
    token = links.token(alert_id, LinkAction.ACK, "c-liaison")
    header, payload, signature = token.split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    forged = LinkSigner(
        "another-secret-of-sufficient-length-xyz", dt.timedelta(hours=1), BASE_URL, clock
    )
    cases = {
        "tampered signature": (alert_id, f"{header}.{payload}.{flipped}"),
        "not a token": (alert_id, "hello"),
        "signed elsewhere": (alert_id, forged.token(alert_id, LinkAction.ACK, "c-x")),
        "for another alert": (other_id, token),
        "an open link used to acknowledge": (
            alert_id,
            links.token(alert_id, LinkAction.OPEN, "c-liaison"),
        ),
    }
    for case, (target, bad) in cases.items():
        shown = client.get(f"/alerts/{target}/ack-link", params={"token": bad})
        assert shown.status_code == 403, case
        assert "Link not valid" in shown.text, case
        posted = client.post(f"/alerts/{target}/ack-link", data={"token": bad})
        assert posted.status_code == 403, case
    assert {r.state for r in service.alerts()} == {"raised"}


def test_the_open_link_shows_the_alert_and_history_and_can_acknowledge(client, service, links):
    alert_id = opened_id(service)
    token = links.token(alert_id, LinkAction.OPEN, "c-duty")
    shown = client.get(f"/alerts/{alert_id}/open-link", params={"token": token})
    assert shown.status_code == 200
    assert "p-0a1b2c3d" in shown.text
    assert "History" in shown.text
    ack_token = shown.text.split('name="token" value="', 1)[1].split('"', 1)[0]
    done = client.post(f"/alerts/{alert_id}/ack-link", data={"token": ack_token})
    assert done.status_code == 200
    assert service.get(alert_id)[0].acknowledged_by == "contact:c-duty"


def test_the_link_in_a_real_notification_acknowledges(client, service):
    alert_id = opened_id(service)
    note = service.notifications(alert_id)[0]
    url = next(line for line in note.body.splitlines() if line.startswith("Acknowledge: "))
    path = url.removeprefix("Acknowledge: ").removeprefix(BASE_URL)
    assert client.get(path).status_code == 200
    token = path.split("token=", 1)[1]
    from urllib.parse import unquote  # noqa: PLC0415

    assert (
        client.post(f"/alerts/{alert_id}/ack-link", data={"token": unquote(token)}).status_code
        == 200
    )
    assert service.get(alert_id)[0].state == "acknowledged"
