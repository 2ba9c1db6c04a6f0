"""``thermogate replay``: a recorded CSV through the decision engine, as a user runs it (a real
process) and through its functions (reader, metrics, runner)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from thermogate.config import load_settings
from thermogate.gateway.engine import Decision, DecisionEngine, EngineInput, Reason
from thermogate.replay import REQUIRED_COLUMNS, parse_readings, replay
from thermogate.replay.metrics import (
    FEVER_ONLY,
    FLAGGED,
    Confusion,
    codes_of,
    confusion,
    person_day_groups,
    person_days,
    screening,
)
from thermogate.replay.runner import format_celsius

ROOT = Path(__file__).resolve().parent.parent
HEADER = list(REQUIRED_COLUMNS)
ADDED = ["decision", "adjusted_c", "reason"]

# Handheld forehead readings read as displayed and the threshold is 37.3, whatever the built-in
# calibrations become; the lobby handheld reads 0.5 higher (so the placement shows in adjusted_c).
CONFIG = """\
[gateway]
threshold_c = 37.3

# These tests give one device many identical readings on purpose: no stuck-sensor check.
[engine]
stuck_run = 0

[[devices]]
id = "hh-lobby"
kind = "handheld"
building = "wenyuan-2"
entrance = "main"
placement = "lobby"

[[engine.calibration]]
kind = "handheld"
site = "forehead"

[[engine.calibration]]
kind = "handheld"
site = "forehead"
placement = "lobby"
offset_c = 0.5
"""


def reading(ts: str, temp: str, person: str = "p1", **fields: str) -> dict[str, str]:
    """A handheld forehead reading at the door of wenyuan-2/main."""
    row = {
        "ts": ts,
        "building": "wenyuan-2",
        "entrance": "main",
        "device_id": "hh-1",
        "device_kind": "handheld",
        "site": "forehead",
        "placement": "door",
        "person_id": person,
        "temp_c": temp,
        "error": "",
        "ambient_c": "",
    }
    row.update(fields)
    return row


def write_csv(path: Path, rows: list[dict[str, str]], header: list[str] = HEADER) -> Path:
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as stream:
        reader = csv.DictReader(stream)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "thermogate.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def thermogate(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("THERMOGATE_")}
    return subprocess.run(
        [sys.executable, "-m", "thermogate.cli", *map(str, args)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
        cwd=cwd,
        env=env,
    )


def run_replay(tmp_path: Path, config: Path, rows: list[dict[str, str]]):
    source = write_csv(tmp_path / "in.csv", rows, header=list(rows[0]))
    out = tmp_path / "out.csv"
    report = replay(source, out, load_settings(config))
    return report, read_csv(out)[1]


# --- the command --------------------------------------------------------------------------


def test_command_orders_by_time_keeps_columns_and_summarises(tmp_path, config):
    header = ["note", *HEADER[:5], "ward", *HEADER[5:], "truth_febrile"]
    minutes = list(range(40))
    rows = [
        {
            **reading(f"2024-03-01T08:{m:02d}:00+08:00", "36.6", person=f"p{m}"),
            "note": f"n{m}",
            "ward": f"w,{m}",  # a comma: quoted on the way out, unchanged
            "truth_febrile": "0",
        }
        for m in minutes
    ]
    rows.append({**rows[5], "ts": "2024-03-01T00:05:00Z", "note": "same instant, UTC"})
    random.Random(7).shuffle(rows)
    source = write_csv(tmp_path / "in.csv", rows, header=header)
    result = thermogate("replay", source, "--out", tmp_path / "out.csv", "--config", config)
    assert result.returncode == 0, result.stderr
    columns, out = read_csv(tmp_path / "out.csv")
    assert columns == [*header, *ADDED]
    assert [r["note"] for r in out[:5]] == ["n0", "n1", "n2", "n3", "n4"]
    five = [r["note"] for r in out if r["person_id"] == "p5"]  # equal times keep input order
    assert five == [r["note"] for r in rows if r["person_id"] == "p5"]
    by_note = {r["note"]: r for r in rows}
    for row in out:
        assert {k: row[k] for k in header} == by_note[row["note"]]
        assert (row["decision"], row["adjusted_c"]) == ("normal", "36.60")
        assert row["reason"] == Reason.BELOW_THRESHOLD.label
    assert "41 rows decided" in result.stderr
    assert "POSITIVE = decision fever" in result.stderr
    assert "FLAGGED = decision recheck or fever" in result.stderr
    assert "person-days" in result.stderr


def test_bad_rows_are_named_counted_and_skipped(tmp_path, config):
    source = tmp_path / "in.csv"
    good = ",".join(reading("2024-03-01T08:00:00+08:00", "36.5").values())
    lines = [
        ",".join(HEADER),
        good,
        good.replace("36.5", "3x.5"),
        good.replace("2024-03-01T08:00:00+08:00", "2024-03-01T08:00:00"),
        good + ",extra",
        good.replace("handheld", "tablet"),
        good.replace(",36.5,", ",,"),
        good,
    ]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = thermogate("replay", source, "--out", tmp_path / "out.csv", "--config", config)
    assert result.returncode == 0, result.stderr
    err = result.stderr
    assert f'{source}:3: row 2, column temp_c: "3x.5" is not a number' in err
    assert f"{source}:4: row 3, column ts: " in err
    assert "has no UTC offset" in err
    assert f"{source}:5: row 4: 12 fields, expected 11" in err
    assert f'{source}:6: row 5, column device_kind: "tablet" is not handheld or kiosk' in err
    assert f"{source}:7: row 6, column temp_c: is empty and no error code is set" in err
    assert "2 rows decided" in err
    assert "5 bad rows skipped" in err
    assert len(read_csv(tmp_path / "out.csv")[1]) == 2


def test_strict_stops_at_the_first_bad_row(tmp_path, config):
    rows = [reading("2024-03-01T08:00:00+08:00", t) for t in ("36.5", "3x.5", "hot")]
    source = write_csv(tmp_path / "in.csv", rows)
    out = tmp_path / "out.csv"
    result = thermogate("replay", source, "--out", out, "--config", config, "--strict")
    assert result.returncode == 2
    assert 'row 2, column temp_c: "3x.5" is not a number (--strict)' in result.stderr
    assert "hot" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "thermogate.toml"]


def test_missing_header_columns_exit_2(tmp_path, config):
    header = [c for c in HEADER if c not in ("temp_c", "person_id")]
    source = tmp_path / "in.csv"
    source.write_text(",".join(header) + "\n", encoding="utf-8")
    result = thermogate("replay", source, "--out", tmp_path / "out.csv", "--config", config)
    assert result.returncode == 2
    assert f"{source}:1: missing required column(s): person_id, temp_c" in result.stderr


def test_header_only_gives_header_only(tmp_path, config):
    source = tmp_path / "in.csv"
    source.write_text(",".join([*HEADER, "truth_febrile"]) + "\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    result = thermogate("replay", source, "--out", out, "--config", config)
    assert result.returncode == 0, result.stderr
    assert out.read_text(encoding="utf-8") == ",".join([*HEADER, "truth_febrile", *ADDED]) + "\n"
    assert "0 rows decided" in result.stderr


def test_empty_file_missing_input_or_output_directory_exit_2(tmp_path, config):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    result = thermogate("replay", empty, "--out", tmp_path / "out.csv", "--config", config)
    assert result.returncode == 2
    assert "empty file" in result.stderr
    result = thermogate("replay", tmp_path / "nope.csv", "--out", tmp_path / "o.csv")
    assert result.returncode == 2
    assert "cannot read" in result.stderr
    result = thermogate("replay", empty, "--out", tmp_path / "no" / "o.csv")
    assert result.returncode == 2
    assert "cannot write: no directory" in result.stderr


def test_non_ascii_passes_through_byte_for_byte(tmp_path, config):
    rows = [
        {**reading("2024-03-01T08:00:00+08:00", "36.4", person="学生-7"), "备注": "体温正常 ✓"},
        {**reading("2024-03-01T07:00:00+08:00", "36.5", person="Zoë"), "备注": 'a "quote"'},
    ]
    source = write_csv(tmp_path / "in.csv", rows, header=[*HEADER, "备注"])
    source.write_bytes(b"\xef\xbb\xbf" + source.read_bytes())  # a byte-order mark, as Excel
    out = tmp_path / "out.csv"
    result = thermogate("replay", source, "--out", out, "--config", config)
    assert result.returncode == 0, result.stderr
    columns, written = read_csv(out)
    assert columns == [*HEADER, "备注", *ADDED]
    assert [(r["person_id"], r["备注"]) for r in written] == [
        ("Zoë", 'a "quote"'),
        ("学生-7", "体温正常 ✓"),
    ]
    source_lines = source.read_text(encoding="utf-8-sig").splitlines()
    out_lines = out.read_text(encoding="utf-8").splitlines()
    assert out_lines[1] == f"{source_lines[2]},normal,36.50,{Reason.BELOW_THRESHOLD.label}"
    assert out_lines[2] == f"{source_lines[1]},normal,36.40,{Reason.BELOW_THRESHOLD.label}"


# --- the protocol through the runner --------------------------------------------------------


def test_placement_from_the_registry_when_empty_else_door(tmp_path, config):
    rows = [
        reading("2024-03-01T08:00:00+08:00", "36.5", device_id="hh-lobby", placement=""),
        reading("2024-03-01T08:00:01+08:00", "36.5", device_id="hh-unknown", placement=""),
        reading("2024-03-01T08:00:02+08:00", "36.5", device_id="hh-unknown", placement="lobby"),
        reading("2024-03-01T08:00:03+08:00", "36.5", device_id="hh-lobby", placement="door"),
    ]
    _, out = run_replay(tmp_path, config, rows)
    assert [r["adjusted_c"] for r in out] == ["37.00", "36.50", "37.00", "36.50"]
    assert [r["placement"] for r in out] == ["", "", "lobby", "door"]  # written as read


def test_error_rows_are_invalid_with_empty_adjusted(tmp_path, config):
    rows = [
        reading("2024-03-01T08:00:00+08:00", "", error="LO"),
        reading("2024-03-01T08:00:01+08:00", "", error="ERR"),
        reading("2024-03-01T08:00:02+08:00", "31.0"),  # too low to assess
    ]
    _, out = run_replay(tmp_path, config, rows)
    assert [r["decision"] for r in out] == ["invalid"] * 3
    assert [r["adjusted_c"] for r in out] == ["", "", ""]
    assert out[0]["reason"] == Reason.ERROR_CODE.label
    assert out[2]["reason"] == Reason.NOT_ASSESSABLE_LOW.label


def test_recheck_confirmed_ten_minutes_later_is_fever(tmp_path, config):
    rows = [
        reading("2024-03-01T08:10:00+08:00", "37.7"),
        reading("2024-03-01T08:00:00+08:00", "37.6"),
    ]
    report, out = run_replay(tmp_path, config, rows)
    assert [(r["ts"][11:16], r["decision"]) for r in out] == [
        ("08:00", "recheck"),
        ("08:10", "fever"),
    ]
    assert out[0]["reason"] == Reason.SUSPICIOUS.label
    assert out[1]["reason"] == Reason.CONFIRMED.label
    assert (report.events.recheck, report.events.fever) == (1, 1)


def test_recheck_below_twelve_minutes_later_clears(tmp_path, config):
    rows = [
        reading("2024-03-01T08:00:00+08:00", "37.5"),
        reading("2024-03-01T08:12:00+08:00", "36.8"),
    ]
    report, out = run_replay(tmp_path, config, rows)
    assert [r["decision"] for r in out] == ["recheck", "normal"]
    assert out[1]["reason"] == Reason.CLEARED.label
    assert out[1]["adjusted_c"] == "36.80"
    assert report.events.cleared == 1


def test_unidentified_suspicious_is_recheck_unconfirmed(tmp_path, config):
    report, out = run_replay(tmp_path, config, [reading("2024-03-01T08:00:00Z", "37.6", person="")])
    assert out[0]["decision"] == "recheck"
    assert out[0]["reason"] == Reason.SUSPICIOUS_UNIDENTIFIED.label
    assert report.events.unidentified == 1


def test_state_carries_across_chunks_and_escalations_are_counted(tmp_path, config):
    rows = [reading(f"2024-03-01T07:{m:02d}:00+08:00", "36.6", person=f"q{m}") for m in range(50)]
    rows += [
        reading("2024-03-01T08:00:00+08:00", "37.6", person="a"),
        reading("2024-03-01T08:05:00+08:00", "37.9", person="a"),  # confirms, a chunk later
        reading("2024-03-01T08:06:00+08:00", "37.5", person="b"),  # never re-checked
        reading("2024-03-01T09:00:00+08:00", "36.6", person="c"),
    ]
    source = write_csv(tmp_path / "in.csv", rows)
    settings = load_settings(config)
    outputs = []
    for chunk in (1, 3, 10_000):
        out = tmp_path / f"out{chunk}.csv"
        report = replay(source, out, settings, chunk_rows=chunk)
        outputs.append(out.read_bytes())
        assert report.events.escalations == 1
        assert report.events.open_at_end == 0
        assert report.decisions == {"normal": 51, "recheck": 2, "fever": 1, "invalid": 0}
    assert outputs[0] == outputs[1] == outputs[2]


# --- the reader ---------------------------------------------------------------------------


def parse(text: str):
    return parse_readings(io.StringIO(text), "in.csv")


def test_reader_counts_lines_of_quoted_line_breaks_and_skips_blank_lines():
    good = ",".join(reading("2024-03-01T08:00:00+08:00", "36.5").values())
    text = "\n".join(
        [
            ",".join([*HEADER, "note"]),
            good + ',"two\nlines"',
            "",
            good + ",x",
            good.replace("36.5", "x") + ",y",
        ]
    )
    readings = parse(text + "\n")
    assert len(readings) == 2
    [bad] = readings.bad_rows
    assert bad.describe("in.csv") == 'in.csv:6: row 3, column temp_c: "x" is not a number'
    assert readings.records[0][-1] == "two\nlines"


def test_reader_refuses_values_precisely():
    rows = [
        reading("2024-03-01T08:00:00+08:00", "nan"),
        reading("2024-03-01T08:00:00+08:00", "37,5"),
        reading("yesterday", "36.5"),
        reading("2024-03-01T08:00:00+08:00", "36.5", site="ear"),
        reading("2024-03-01T08:00:00+08:00", "36.5", placement="hall"),
        reading("2024-03-01T08:00:00+08:00", "", error="OOPS"),
        reading("2024-03-01T08:00:00+08:00", "36.5", ambient_c="warm"),
        reading("2024-03-01T08:00:00+08:00", "36.5", device_id=""),
        reading("2024-03-01T08:00:00+08:00", "garbage", error="HI"),  # temp is moot: kept
        reading("yesterday", "hot"),  # the leftmost problem is the one named
    ]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HEADER, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    readings = parse(buffer.getvalue())
    described = [(b.row, b.column, b.problem) for b in readings.bad_rows]
    assert described == [
        (1, "temp_c", '"nan" is not a number'),
        (2, "temp_c", '"37,5" is not a number'),
        (3, "ts", '"yesterday" is not an RFC 3339 time (2024-03-01T08:15:00+08:00)'),
        (4, "site", '"ear" is not forehead, wrist or canthus'),
        (5, "placement", '"hall" is not door, lobby or room'),
        (6, "error", '"OOPS" is not empty, LO, HI or ERR'),
        (7, "ambient_c", '"warm" is not a number'),
        (8, "device_id", "is empty"),
        (10, "ts", '"yesterday" is not an RFC 3339 time (2024-03-01T08:15:00+08:00)'),
    ]
    assert readings.row.tolist() == [9]
    assert readings.has_error.tolist() == [True]
    assert np.isnan(readings.temp_c).all()


def test_reader_times_and_local_dates_follow_each_rows_offset():
    rows = [
        reading("2024-03-01T23:30:00+08:00", "36.5"),
        reading("2024-03-01T15:30:00Z", "36.5"),  # the same instant, a local date of its own
        reading("2024-03-02T00:30:00.250+08:00", "36.5"),
    ]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HEADER, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    readings = parse(buffer.getvalue())
    first = 1709307000000  # 2024-03-01T15:30:00Z
    assert readings.ts_ms.tolist() == [first, first, first + 3_600_250]
    march_1 = 738946  # date(2024, 3, 1).toordinal()
    assert readings.local_day.tolist() == [march_1, march_1, march_1 + 1]


def test_reader_refuses_only_the_rows_with_invalid_utf8(tmp_path, config):
    good = ",".join(reading("2024-03-01T08:00:00+08:00", "36.5").values()).encode()
    source = tmp_path / "in.csv"
    source.write_bytes(
        b"\n".join([",".join(HEADER).encode(), good, good.replace(b"p1", b"p\xff"), good]) + b"\n"
    )
    out = tmp_path / "out.csv"
    report = replay(source, out, load_settings(config))
    assert [(b.row, b.column, b.problem) for b in report.bad_rows] == [
        (2, "person_id", "not valid UTF-8")
    ]
    assert report.rows == 2


# --- the metrics --------------------------------------------------------------------------


def test_metrics_on_a_hand_computed_example():
    # reading:     0      1       2       3        4       5       6       7
    decision = np.array(
        [Decision.FEVER, Decision.RECHECK, Decision.NORMAL, Decision.FEVER,
         Decision.NORMAL, Decision.INVALID, Decision.NORMAL, Decision.RECHECK],
        dtype=np.int8,
    )  # fmt: skip
    truth = np.array([1, 1, 1, 0, 0, 1, 0, 0], dtype=np.int8)
    devices = ["a", "a", "a", "b", "b", "b", "b", "a"]
    persons = ["p", "p", "q", "r", "r", "", "s", "s"]
    day = np.array([1, 1, 1, 1, 1, 1, 1, 2], dtype=np.int64)

    fever = screening(
        "fever",
        "positive = fever",
        decision,
        truth,
        FEVER_ONLY,
        device=codes_of(devices),
        person_day=person_day_groups(codes_of(persons)[0], day),
    )
    # positive = {0, 3}; febrile = {0, 1, 2, 5}: TP 1 (0), FP 1 (3), FN 3 (1, 2, 5), TN 3
    assert fever.overall == Confusion(tp=1, fp=1, fn=3, tn=3)
    assert fever.overall.sensitivity == 0.25
    assert fever.overall.specificity == 0.75
    assert fever.overall.ppv == 0.5
    assert fever.overall.alarms_per_1000 == 250.0
    assert fever.per_device == {
        "a": Confusion(tp=1, fp=0, fn=2, tn=1),
        "b": Confusion(tp=0, fp=1, fn=1, tn=2),
    }
    # person-days: p/1 febrile+positive, q/1 febrile, r/1 positive, s/1 none, s/2 none
    assert fever.person_days == Confusion(tp=1, fp=1, fn=1, tn=2)

    flagged = screening(
        "flagged",
        "flagged",
        decision,
        truth,
        FLAGGED,
        device=codes_of(devices),
        person_day=person_day_groups(codes_of(persons)[0], day),
    )
    # positive = {0, 1, 3, 7}: TP 2 (0, 1), FP 2 (3, 7), FN 2 (2, 5), TN 2 (4, 6)
    assert flagged.overall == Confusion(tp=2, fp=2, fn=2, tn=2)
    assert flagged.overall.alarms_per_1000 == 500.0
    assert flagged.person_days == Confusion(tp=1, fp=2, fn=1, tn=1)


def test_metrics_without_positives_or_febrile_are_none():
    empty = confusion(np.zeros(3, dtype=bool), np.zeros(3, dtype=np.int8))
    assert (empty.sensitivity, empty.ppv, empty.specificity) == (None, None, 1.0)
    assert confusion(np.zeros(0, dtype=bool), np.zeros(0)).alarms_per_1000 is None
    group, count = person_day_groups(np.array([-1, -1]), np.array([5, 5]))
    assert (group.tolist(), count) == ([-1, -1], 0)
    assert person_days(group, count, np.ones(2, dtype=bool), np.ones(2)) == Confusion(0, 0, 0, 0)


def test_codes_of_puts_missing_values_at_minus_one():
    codes, names = codes_of(["x", "", "y", "x", ""])
    assert codes.tolist() == [0, -1, 1, 0, -1]
    assert names == ["x", "y"]


def test_format_celsius_two_decimals_and_empty_for_nan():
    values = np.array([37.0, 36.6 + 0.5, -0.25, np.nan, 38.125])
    assert format_celsius(values) == ["37.00", "37.10", "-0.25", "", "38.12"]


def test_replay_decides_as_one_engine_call_over_the_sorted_rows(tmp_path, config):
    """The chunked, column-wise replay against the plainest use of the engine."""
    rng = random.Random(11)
    rows = []
    for _ in range(600):
        second = rng.randrange(0, 4 * 3600)
        hh, mm, ss = 8 + second // 3600, second // 60 % 60, second % 60
        temp = rng.choice(["36.4", "36.9", "37.4", "37.8", "38.7", "", "30.0"])
        rows.append(
            reading(
                f"2024-03-01T{hh:02d}:{mm:02d}:{ss:02d}+08:00",
                temp,
                person=rng.choice(["", "a", "b", "c", "d", "e"]),
                device_id=rng.choice(["hh-1", "hh-lobby"]),
                placement=rng.choice(["", "door", "lobby"]),
                error="" if temp else rng.choice(["LO", "HI", "ERR"]),
                ambient_c=rng.choice(["", "21.5"]),
            )
        )
    rows = [{**row, "n": str(i)} for i, row in enumerate(rows)]
    report, out = run_replay(tmp_path, config, rows)
    assert report.rows == 600 and not report.bad_rows

    settings = load_settings(config)
    ordered = sorted(rows, key=lambda r: (r["ts"], int(r["n"])))  # one offset: text order is time
    registry = {"hh-lobby": "lobby"}
    engine = DecisionEngine(settings.engine, settings.gateway.threshold_c)
    decided = engine.decide(
        EngineInput(
            ts_ms=np.array(
                [dt.datetime.fromisoformat(r["ts"]).timestamp() * 1000 for r in ordered]
            ).astype(np.int64),
            reading_id=[r["n"] for r in ordered],
            device_id=[r["device_id"] for r in ordered],
            device_kind=[r["device_kind"] for r in ordered],
            site=[r["site"] for r in ordered],
            placement=[r["placement"] or registry.get(r["device_id"], "door") for r in ordered],
            person_id=[r["person_id"] or None for r in ordered],
            temp_c=np.array([float(r["temp_c"] or "nan") for r in ordered]),
            has_error=np.array([bool(r["error"]) for r in ordered]),
            ambient_c=np.array([float(r["ambient_c"] or "nan") for r in ordered]),
        )
    )
    assert [r["n"] for r in out] == [r["n"] for r in ordered]
    assert [r["decision"] for r in out] == decided.decision_labels()
    assert [r["reason"] for r in out] == decided.reason_labels()
    assert [r["adjusted_c"] for r in out] == format_celsius(decided.adjusted_c)
