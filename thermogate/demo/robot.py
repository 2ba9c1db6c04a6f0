"""The demo's clinic robot: answers fever notifications on the web pages, like a clinician.

When a notification of a fever of an identified person reaches the phones inbox, the robot
follows its signed acknowledge link (GET the confirm page, POST its form), logs in to the desk
as the clinic account, adds a follow-up to the person's case, clears the case and clears the
alert, each over plain HTTP exactly as a browser would (cookies, CSRF fields, redirects).
It waits a moment before each step so the live view shows every state. ``--no-robot`` leaves
all of it to a person at the desk.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Final

import httpx

from thermogate.alerts import LocalInbox
from thermogate.demo.forms import Form, forms_of
from thermogate.demo.records import DeskAccount

log = logging.getLogger(__name__)

FEVER_KINDS: Final = frozenset({"fever", "fever_unconfirmed"})
TITLE: Final = re.compile(
    r"^(?:\[[^\]]*\] )?(?P<severity>\w+) (?P<kind>\w+) · .+ · #(?P<id>\d+)"
    r"(?: · person (?P<person>\S+))?$"
)
ACK_LINK: Final = re.compile(r"^Acknowledge: (\S+)$", re.MULTILINE)
POLL_S: Final = 0.2
CASE_WAIT_S: Final = 10.0
HTTP_TIMEOUT_S: Final = 10.0


@dataclass(frozen=True, slots=True)
class Step:
    """One thing the robot did, at ``at_s`` seconds into the run."""

    at_s: float
    text: str


@dataclass(frozen=True, slots=True)
class FeverNotice:
    """What the robot reads off a notification."""

    alert_id: int
    kind: str
    person_id: str
    ack_url: str


def read_notice(message: dict[str, object]) -> FeverNotice | None:
    """The fever of an identified person a notification is about, if it is one."""
    title, body = message.get("title"), message.get("message")
    if not isinstance(title, str) or not isinstance(body, str):
        return None
    found, link = TITLE.match(title), ACK_LINK.search(body)
    if found is None or link is None or found["kind"] not in FEVER_KINDS or not found["person"]:
        return None
    return FeverNotice(int(found["id"]), found["kind"], found["person"], link.group(1))


class RobotError(RuntimeError):
    """A page did not answer as a person would expect."""


class ClinicRobot:
    """Works fever notifications through the web pages, one at a time, in a thread."""

    def __init__(
        self,
        phones: LocalInbox,
        records_url: str,
        account: DeskAccount,
        *,
        began: float,
        think_s: float = 1.5,
    ) -> None:
        self._phones = phones
        self._desk_url = records_url.rstrip("/")
        self._account = account
        self._began = began
        self._think_s = think_s
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._steps: list[Step] = []
        self._handled: set[int] = set()
        self._seen = 0
        self._http = httpx.Client(timeout=HTTP_TIMEOUT_S, follow_redirects=False)
        self._thread = threading.Thread(target=self._run, name="demo-clinic-robot", daemon=True)

    @property
    def steps(self) -> list[Step]:
        """What the robot has done so far, in order."""
        with self._lock:
            return list(self._steps)

    def start(self) -> ClinicRobot:
        """Start watching the phones."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop after the current step."""
        self._stop.set()
        self._thread.join(HTTP_TIMEOUT_S * 2)
        self._http.close()

    def _step(self, text: str) -> None:
        with self._lock:
            self._steps.append(Step(time.monotonic() - self._began, text))
        log.info("clinic robot", extra={"step": text})

    def _pause(self) -> bool:
        """Think a moment, as a person would; False when stopping."""
        return not self._stop.wait(self._think_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            messages = self._phones.messages()
            fresh, self._seen = messages[self._seen :], len(messages)
            for message in fresh:
                notice = read_notice(message)
                if notice is None or notice.alert_id in self._handled or self._stop.is_set():
                    continue
                self._handled.add(notice.alert_id)
                try:
                    self._handle(notice)
                except (httpx.HTTPError, RobotError) as exc:
                    self._step(f"gave up on alert #{notice.alert_id}: {exc}")
                    log.warning("clinic robot gave up", extra={"alert": notice.alert_id})
            self._stop.wait(POLL_S)

    def _handle(self, notice: FeverNotice) -> None:
        self._step(f"notified of alert #{notice.alert_id}: {notice.kind}, {notice.person_id}")
        if not self._pause():
            return
        self._acknowledge_by_link(notice)
        if not self._pause():
            return
        case_id = self._find_case(notice.person_id)
        self._post_desk_form(
            f"/desk/cases/{case_id}/follow-ups",
            {"kind": "remeasurement", "temp_c": "38.4", "note": "oral, at the clinic"},
        )
        self._step(f"follow-up added to case #{case_id} on the desk (re-measured 38.4 °C)")
        if not self._pause():
            return
        self._post_desk_form(
            f"/desk/cases/{case_id}/close", {"outcome": "influenza; rest in room, re-check daily"}
        )
        self._step(f"case #{case_id} cleared on the desk")
        self._post_desk_form(
            f"/desk/alerts/{notice.alert_id}/clear",
            {"note": f"seen at the clinic, case #{case_id}"},
        )
        self._step(f"alert #{notice.alert_id} cleared on the desk")

    def _acknowledge_by_link(self, notice: FeverNotice) -> None:
        """GET the signed link's confirm page and POST its form, as a browser does."""
        page = self._http.get(notice.ack_url)
        forms = forms_of(page.text)
        if page.status_code != 200:
            raise RobotError(f"the acknowledge link answered {page.status_code}")
        if not forms:  # acknowledged by someone else already
            self._step(f"alert #{notice.alert_id} was already acknowledged")
            return
        done = self._http.post(str(page.url.join(forms[0].action)), data=forms[0].fields)
        if done.status_code != 200 or "acknowledged" not in done.text:
            raise RobotError(f"acknowledging answered {done.status_code}")
        self._step(f"alert #{notice.alert_id} acknowledged on the web page (signed link)")

    def _desk_forms(self) -> list[Form]:
        """The desk page's forms, logging in first when the session is missing or over."""
        page = self._http.get(f"{self._desk_url}/desk")
        if page.status_code == 303:
            self._log_in()
            page = self._http.get(f"{self._desk_url}/desk")
        if page.status_code != 200:
            raise RobotError(f"the desk answered {page.status_code}")
        return forms_of(page.text)

    def _log_in(self) -> None:
        login = forms_of(self._http.get(f"{self._desk_url}/desk/login").text)[0]
        fields = {
            **login.fields,
            "username": self._account.username,
            "password": self._account.password,
        }
        answer = self._http.post(f"{self._desk_url}{login.action}", data=fields)
        if answer.status_code != 303:
            raise RobotError(f"logging in answered {answer.status_code}")
        self._step(f"logged in to the desk as {self._account.username}")

    def _find_case(self, person_id: str) -> int:
        """The open case of ``person_id`` on the desk (it may take a moment to open)."""
        deadline = time.monotonic() + CASE_WAIT_S
        while True:
            for form in self._desk_forms():
                if form.attrs.get("data-action") == "follow-up" and (
                    form.attrs.get("data-person") == person_id
                ):
                    return int(form.attrs["data-case"])
            if time.monotonic() > deadline or self._stop.wait(POLL_S * 2):
                raise RobotError(f"no open case of {person_id} on the desk")

    def _post_desk_form(self, action: str, values: dict[str, str]) -> None:
        """Fill in the desk's form posting to ``action`` and send it (303 back to the desk)."""
        form = next((f for f in self._desk_forms() if f.action == action), None)
        if form is None:
            raise RobotError(f"no form for {action} on the desk")
        answer = self._http.post(f"{self._desk_url}{action}", data={**form.fields, **values})
        if answer.status_code != 303:
            raise RobotError(f"{action} answered {answer.status_code}")
