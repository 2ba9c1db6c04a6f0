"""``thermogate demo`` shows the clinic side: a fever of a resident becomes a lifecycle alert,
a notification with a signed link, an acknowledgement on the web page and a cleared case,
done by the clinic robot over HTTP; run as a user runs it, a real process and its summary."""

from __future__ import annotations

import json
import re

import pytest
from test_cli import thermogate

from thermogate.demo.robot import read_notice

pytestmark = pytest.mark.timeout(180)


def test_the_demo_shows_a_fever_acknowledged_on_the_desk_and_its_case_cleared(tmp_path):
    result = thermogate(
        "demo", "--duration", "40", "--no-view", "--workdir", str(tmp_path), timeout=160
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert re.search(r"clinic and duty desk: http://127\.0\.0\.1:\d+/desk", out)
    assert re.search(r"demo-only accounts: clinic /\s*\S+,\s*duty /\s*\S+", out)

    acknowledged = re.search(r"alert #(\d+) acknowledged on the web page \(signed link\)", out)
    assert acknowledged, out
    alert = acknowledged.group(1)
    followed = re.search(r"follow-up added to case #(\d+) on the desk", out)
    assert followed, out
    case = followed.group(1)
    assert f"case #{case} cleared on the desk" in out
    assert f"alert #{alert} cleared on the desk" in out

    lifecycle = re.search(
        r"lifecycle alerts\s+(\d+)\s+\((\d+) acknowledged, (\d+) cleared; (\d+) notifications sent",
        out,
    )
    assert lifecycle, out
    raised, acked, cleared, sent = (int(g) for g in lifecycle.groups())
    assert raised >= 1 and acked >= 1 and cleared >= 1 and sent >= 1
    cases = re.search(r"fever cases\s+(\d+)\s+\((\d+) open, (\d+) cleared\)", out)
    assert cases and int(cases.group(3)) >= 1, out

    # The notification the robot answered is in the phones inbox, with its signed link.
    notices = [
        read_notice(json.loads(line))
        for line in (tmp_path / "phones.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert any(n is not None and str(n.alert_id) == alert for n in notices)
