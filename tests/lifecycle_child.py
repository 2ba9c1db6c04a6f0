"""A child process for the kill -9 tests: persist an alert's notifications, or send them.

    python lifecycle_child.py persist DB_URL URL   ingest one fever, print "persisted", wait
    python lifecycle_child.py send DB_URL          send everything due, print "done"

``URL`` is the apprise URL of the one contact. The parent kills the child with SIGKILL at
the moment it chooses and starts another; nothing is shared but the database.
"""

from __future__ import annotations

import sys
import threading

from lifecycle_kit import FakeClock, MemoryRoster, contact, engine_for, make_alert, make_service
from sqlalchemy.orm import sessionmaker

from thermogate.alerts.lifecycle.sender import NotificationSender
from thermogate.alerts.lifecycle.service import utc_clock
from thermogate.contract.messages import AlertKind


def main() -> None:
    mode, url = sys.argv[1], sys.argv[2]
    engine = engine_for(url)
    if mode == "persist":
        roster = MemoryRoster(first=(contact("c-liaison", "clinic_liaison", sys.argv[3]),))
        service = make_service(engine, roster, FakeClock(utc_clock()))
        result = service.ingest(make_alert(AlertKind.FEVER, ts=utc_clock()))
        print(f"persisted {result.alert_id}", flush=True)
        threading.Event().wait()  # until killed
    elif mode == "send":
        sender = NotificationSender(
            sessionmaker(engine, expire_on_commit=False),
            retries=5,
            retry_initial_s=0.05,
            clock=utc_clock,
        )
        print("sending", flush=True)
        while sender.send_due():
            pass
        print("done", flush=True)


if __name__ == "__main__":
    main()
