"""The notification outbox delivered for real: apprise to a local HTTP receiver (json://,
ntfy://) and a local SMTP server (mailto://), retries with backoff on an injected clock, and a
sender killed with SIGKILL before and during a send."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from lifecycle_kit import (
    FakeClock,
    MemoryRoster,
    contact,
    engine_for,
    make_alert,
    make_service,
)
from lifecycle_receiver import Receiver
from servers import free_port
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from thermogate.alerts.lifecycle.links import LinkAction, LinkSigner
from thermogate.alerts.lifecycle.sender import NotificationSender, with_key_header
from thermogate.alerts.lifecycle.service import LifecycleService

HERE = Path(__file__).resolve().parent
CHILD_TIMEOUT_S = 60.0


class Mailbox:
    """A local SMTP server (aiosmtpd) that keeps every message."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK"

    def __enter__(self) -> Mailbox:
        self._controller.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._controller.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = engine_for(f"sqlite:///{tmp_path / 'lifecycle.sqlite3'}")
    yield engine
    engine.dispose()


def sender_for(engine: Engine, clock: FakeClock, retries: int = 3) -> NotificationSender:
    return NotificationSender(
        sessionmaker(engine, expire_on_commit=False),
        retries=retries,
        retry_initial_s=2.0,
        clock=clock,
        rng=random.Random(7),
    )


def test_json_ntfy_and_mail_channels_deliver_with_the_key_and_the_links(engine, receiver):
    clock = FakeClock()
    with Mailbox() as mailbox:
        liaison = contact(
            "c-liaison",
            "clinic_liaison",
            f"json://127.0.0.1:{receiver.port}/clinic-hook",
            f"mailto://127.0.0.1:{mailbox.port}?from=alerts@campus.example"
            "&to=liaison@campus.example&mode=insecure",
        )
        duty = contact("c-duty", "duty", f"ntfy://127.0.0.1:{receiver.port}/duty-w2")
        service = make_service(engine, MemoryRoster(first=(liaison, duty)), clock)
        opened = service.ingest(make_alert())
        assert opened.alert_id is not None
        sender = sender_for(engine, clock)
        assert sender.send_due() == 3
        assert sender.send_due() == 0
        rows = {n.channel: n for n in service.notifications(opened.alert_id)}
        assert all(n.sent_at == clock.now and n.attempts == 1 for n in rows.values())

        by_path = {r.path: r for r in receiver.received}
        webhook = by_path["/clinic-hook"]
        assert webhook.headers["idempotency-key"] == rows["json"].idempotency_key
        document = webhook.json()
        assert document["type"] == "failure"  # critical
        assert document["title"].startswith("CRITICAL fever · wenyuan-2/main")
        assert f"/alerts/{opened.alert_id}/ack-link?token=" in document["message"]
        assert f"/alerts/{opened.alert_id}/open-link?token=" in document["message"]

        ntfy = by_path["/"].json()
        assert ntfy["topic"] == "duty-w2"
        assert ntfy["message"].endswith(f"Idempotency-Key: {rows['ntfy'].idempotency_key}")

        [mail] = mailbox.messages
        assert mail["To"] == "liaison@campus.example"
        assert mail["Idempotency-Key"] == rows["mailto"].idempotency_key
        assert str(mail["Subject"]).startswith("CRITICAL fever · wenyuan-2/main")
        body = mail.get_body(("plain", "html"))
        assert body is not None
        assert "/ack-link?token=" in body.get_content()


def test_a_failing_target_is_retried_with_backoff_then_sent_once(engine):
    receiver = Receiver(fail_first=2)
    try:
        clock = FakeClock()
        liaison = contact("c-liaison", "clinic_liaison", f"json://127.0.0.1:{receiver.port}/h")
        service = make_service(engine, MemoryRoster(first=(liaison,)), clock)
        opened = service.ingest(make_alert())
        assert opened.alert_id is not None
        sender = sender_for(engine, clock)
        assert sender.send_due() == 1  # 503
        [row] = service.notifications(opened.alert_id)
        first_wait = row.next_attempt_at - clock.now
        assert dt.timedelta(seconds=1) <= first_wait <= dt.timedelta(seconds=2)  # 2 s, jittered
        assert row.attempts == 1
        assert row.last_error is not None
        assert sender.send_due() == 0  # not due yet
        clock.now = row.next_attempt_at
        assert sender.send_due() == 1  # 503 again, the wait doubles
        [row] = service.notifications(opened.alert_id)
        assert dt.timedelta(seconds=2) <= row.next_attempt_at - clock.now <= dt.timedelta(seconds=4)
        clock.now = row.next_attempt_at
        assert sender.send_due() == 1
        [row] = service.notifications(opened.alert_id)
        assert (row.attempts, row.sent_at) == (3, clock.now)
        assert len(receiver.received) == 3
        assert receiver.unique_keys() == [row.idempotency_key]
    finally:
        receiver.stop()


def test_a_target_that_never_accepts_is_given_up_after_the_retries(engine):
    receiver = Receiver(fail_first=100)
    try:
        clock = FakeClock()
        liaison = contact("c-liaison", "clinic_liaison", f"json://127.0.0.1:{receiver.port}/h")
        service = make_service(engine, MemoryRoster(first=(liaison,)), clock)
        opened = service.ingest(make_alert())
        assert opened.alert_id is not None
        sender = sender_for(engine, clock, retries=2)
        for _ in range(3):
            assert sender.send_due() == 1
            clock.advance(minutes=1)
        assert sender.send_due() == 0
        assert sender.next_due() is None
        [row] = service.notifications(opened.alert_id)
        assert (row.attempts, row.sent_at, row.gave_up_at is not None) == (3, None, True)
        assert len(receiver.received) == 3
    finally:
        receiver.stop()


def test_an_unusable_url_is_a_failed_attempt_not_a_crash(engine):
    clock = FakeClock()
    broken = contact("c-x", "duty", "nosuchscheme://whatever")
    service = make_service(engine, MemoryRoster(first=(broken,)), clock)
    opened = service.ingest(make_alert())
    assert opened.alert_id is not None
    assert sender_for(engine, clock).send_due() == 1
    [row] = service.notifications(opened.alert_id)
    assert row.sent_at is None
    assert "apprise cannot use" in (row.last_error or "")


def test_the_key_header_is_added_only_where_the_channel_sends_headers():
    assert with_key_header("json://h/p", "tg-1") == "json://h/p?+Idempotency-Key=tg-1"
    assert (
        with_key_header("mailtos://u:p@h?to=a@b", "k")
        == "mailtos://u:p@h?to=a@b&+Idempotency-Key=k"
    )
    assert with_key_header("ntfy://h/topic", "k") == "ntfy://h/topic"
    assert with_key_header("wecombot://botkey", "k") == "wecombot://botkey"


# -- kill -9 between persist and send, and during a send ---------------------------------------


def start_child(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(HERE / "lifecycle_child.py"), *args],
        cwd=HERE,
        stdout=subprocess.PIPE,
        text=True,
    )


def first_line(child: subprocess.Popen[str]) -> str:
    assert child.stdout is not None
    return child.stdout.readline().strip()


def kill(child: subprocess.Popen[str]) -> None:
    child.send_signal(signal.SIGKILL)
    assert child.wait(CHILD_TIMEOUT_S) == -signal.SIGKILL


def sent_rows(url: str) -> list[tuple[str, int, bool]]:
    engine = engine_for(url)
    try:
        service = LifecycleService(
            sessionmaker(engine),
            MemoryRoster(),
            LinkSigner("x", dt.timedelta(hours=1), "http://h", FakeClock()),
        )
        rows = [n for a in service.alerts(open_only=False) for n in service.notifications(a.id)]
        return [(n.idempotency_key, n.attempts, n.sent_at is not None) for n in rows]
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'killed.sqlite3'}"
    return str(request.getfixturevalue("postgres_url"))


def test_killed_after_persisting_the_notification_is_sent_after_restart(db_url, receiver):
    target = f"json://127.0.0.1:{receiver.port}/hook"
    persisting = start_child("persist", db_url, target)
    assert first_line(persisting).startswith("persisted ")
    kill(persisting)
    assert receiver.received == []
    [(key, attempts, sent)] = sent_rows(db_url)
    assert (attempts, sent) == (0, False)

    restarted = start_child("send", db_url)
    assert restarted.communicate(timeout=CHILD_TIMEOUT_S)[0].split() == ["sending", "done"]
    assert receiver.unique_keys() == [key]
    assert len(receiver.received) == 1
    assert sent_rows(db_url) == [(key, 1, True)]


def test_killed_while_sending_is_sent_again_and_the_receiver_drops_the_copy(db_url):
    receiver = Receiver(hold_first=True)
    try:
        persisting = start_child("persist", db_url, f"json://127.0.0.1:{receiver.port}/hook")
        assert first_line(persisting).startswith("persisted ")
        kill(persisting)
        sending = start_child("send", db_url)
        assert first_line(sending) == "sending"
        receiver.wait_for(1)  # the request arrived; its answer never will
        kill(sending)
        [(key, _, sent)] = sent_rows(db_url)
        assert not sent

        restarted = start_child("send", db_url)
        assert restarted.communicate(timeout=CHILD_TIMEOUT_S)[0].split() == ["sending", "done"]
        assert [r.key for r in receiver.received] == [key, key]
        assert receiver.unique_keys() == [key]  # exactly once, as the receiver sees it
        assert sent_rows(db_url) == [(key, 1, True)]
    finally:
        receiver.stop()


def test_link_urls_in_the_body_verify_for_their_contact(engine, receiver):
    clock = FakeClock()
    liaison = contact("c-liaison", "clinic_liaison", f"json://127.0.0.1:{receiver.port}/h")
    service = make_service(engine, MemoryRoster(first=(liaison,)), clock)
    opened = service.ingest(make_alert())
    assert opened.alert_id is not None
    [row] = service.notifications(opened.alert_id)
    token = row.body.split("ack-link?token=", 1)[1].split()[0]
    from lifecycle_kit import BASE_URL, SECRET  # noqa: PLC0415

    signer = LinkSigner(SECRET, dt.timedelta(hours=24), BASE_URL, clock)
    claims = signer.verify(token, opened.alert_id, LinkAction.ACK)
    assert claims.contact_id == "c-liaison"
