"""The local inbox as a receiver sees it: real HTTP on 127.0.0.1, JSON only, nothing lost."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from servers import free_port

from thermogate.alerts import LocalInbox

pytestmark = pytest.mark.timeout(20)


@pytest.fixture
def inbox() -> Iterator[LocalInbox]:
    with LocalInbox() as started:
        yield started


def notification(n: int) -> dict[str, object]:
    """What apprise's json:// plugin posts for one alert."""
    alert = {"v": 1, "alert_id": f"fever:hh-01:{n}", "temp_c": 38.0 + n / 10}
    return {
        "version": "1.0",
        "title": f"CRITICAL fever #{n}",
        "message": orjson.dumps(alert).decode(),
        "attachments": [],
        "type": "failure",
    }


def test_a_posted_notification_is_kept_and_its_alert_decoded(inbox: LocalInbox) -> None:
    assert inbox.apprise_url == f"json://127.0.0.1:{inbox.port}/inbox"
    response = httpx.post(inbox.url, json=notification(1))
    assert response.status_code == 200
    assert inbox.messages() == [notification(1)]
    assert inbox.alerts() == [{"v": 1, "alert_id": "fever:hh-01:1", "temp_c": 38.1}]
    listing = httpx.get(inbox.url).json()
    assert listing == {"count": 1, "messages": [notification(1)]}


@pytest.mark.parametrize(
    "body",
    [b"not json", b'{"title": ', b"[1, 2]", b'"a string"', b""],
    ids=["text", "truncated", "array", "string", "empty"],
)
def test_anything_but_a_json_object_is_refused_with_400(inbox: LocalInbox, body: bytes) -> None:
    response = httpx.post(inbox.url, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "error" in response.json()
    assert inbox.messages() == []


def test_other_paths_are_not_the_inbox(inbox: LocalInbox) -> None:
    response = httpx.post(inbox.url.replace("/inbox", "/elsewhere"), json=notification(1))
    assert response.status_code == 404
    assert inbox.messages() == []


def test_messages_that_are_not_alerts_are_kept_but_not_listed_as_alerts(inbox: LocalInbox) -> None:
    httpx.post(inbox.url, json={"title": "test", "message": "hello"}).raise_for_status()
    httpx.post(inbox.url, json={"title": "no message"}).raise_for_status()
    assert len(inbox.messages()) == 2
    assert inbox.alerts() == []


def test_concurrent_posters_lose_nothing(inbox: LocalInbox) -> None:
    posters, each = 8, 25
    statuses: list[int] = []
    lock = threading.Lock()

    def post_many(poster: int) -> None:
        with httpx.Client() as client:
            for i in range(each):
                status = client.post(inbox.url, json=notification(poster * 1000 + i)).status_code
                with lock:
                    statuses.append(status)

    threads = [threading.Thread(target=post_many, args=(p,)) for p in range(posters)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)

    assert inbox.wait_for(posters * each, timeout=5)
    assert statuses == [200] * (posters * each)
    ids = sorted(a["alert_id"] for a in inbox.alerts())
    expected = sorted(f"fever:hh-01:{p * 1000 + i}" for p in range(posters) for i in range(each))
    assert ids == expected


def test_every_notification_is_appended_to_the_jsonl_file(tmp_path: Path) -> None:
    path = tmp_path / "inbox" / "received.jsonl"
    with LocalInbox(jsonl_path=path) as inbox:
        for n in range(3):
            httpx.post(inbox.url, json=notification(n)).raise_for_status()
        assert httpx.post(inbox.url, content=b"garbage").status_code == 400  # not written
    with LocalInbox(jsonl_path=path) as inbox:  # a restart appends
        httpx.post(inbox.url, json=notification(3)).raise_for_status()

    lines = path.read_bytes().splitlines()
    assert [orjson.loads(line) for line in lines] == [notification(n) for n in range(4)]


def test_a_simulated_outage_answers_errors_then_recovers(inbox: LocalInbox) -> None:
    inbox.fail_next(2, status=500)
    codes = [httpx.post(inbox.url, json=notification(n)).status_code for n in range(3)]
    assert codes == [500, 500, 200]
    assert [a["alert_id"] for a in inbox.alerts()] == ["fever:hh-01:2"]


def test_wait_for_times_out_when_too_few_arrive(inbox: LocalInbox) -> None:
    httpx.post(inbox.url, json=notification(1)).raise_for_status()
    assert inbox.wait_for(1, timeout=0.1)
    assert not inbox.wait_for(2, timeout=0.1)


def test_an_inbox_on_a_fixed_port_keeps_its_url_across_restarts() -> None:
    port = free_port()
    inbox = LocalInbox(port)
    assert inbox.apprise_url == f"json://127.0.0.1:{port}/inbox"
    with pytest.raises(httpx.ConnectError):
        httpx.post(inbox.url, json=notification(1))
    for n in range(2):
        with inbox:
            assert inbox.port == port
            httpx.post(inbox.url, json=notification(n)).raise_for_status()
    assert len(inbox.messages()) == 2
