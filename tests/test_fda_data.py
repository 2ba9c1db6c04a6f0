"""The FDA facial/oral study (group 1) as kiosk readings: loader, replay CSV, calibration fit.

The data tests read the real files from ``shared/data/fda-face-oral`` beside the repository
(CI keeps a read-only copy of shared/ there) and skip only when that folder is absent.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from thermogate.contract.messages import Site
from thermogate.firmware_sim.fda import (
    BODY_MODE_OFFSET_C,
    FdaReadings,
    FdaStudy,
    default_data_dir,
    fit_calibration,
    load_fda,
    replay_rows,
    roc_auc,
    rule_metrics,
    threshold_for_specificity,
    write_replay_csv,
)

REPO = Path(__file__).parents[1]
DATA = Path(__file__).parents[2] / "shared" / "data" / "fda-face-oral"
FILES = {"flir": "FLIR_group1.csv", "ici": "ICI_group1.csv"}
CONTRACT_COLUMNS = [
    "ts",
    "building",
    "entrance",
    "device_id",
    "device_kind",
    "site",
    "placement",
    "person_id",
    "temp_c",
    "error",
    "ambient_c",
]
PASSTHROUGH = ["truth_febrile", "truth_oral_c", "fda_round"]


@pytest.fixture(scope="module")
def study() -> FdaStudy:
    if not DATA.is_dir():
        pytest.skip(f"FDA data not found at {DATA} (shared/ beside the repository)")
    return load_fda(DATA)


@pytest.fixture(scope="module")
def replay_csv(study: FdaStudy) -> list[dict[str, str]]:
    out = io.StringIO()
    write_replay_csv(replay_rows(study.readings), out)
    out.seek(0)
    return list(csv.DictReader(out))


def file_rows(camera: str) -> list[dict[str, str]]:
    """The subject rows of one file, read independently of the loader (names on row 3)."""
    with (DATA / FILES[camera]).open(encoding="utf-8-sig", newline="") as handle:
        lines = handle.read().splitlines()
    return list(csv.DictReader(lines[2:]))


def test_default_data_dir_is_shared_beside_the_repository():
    assert default_data_dir(REPO) == DATA


@pytest.mark.parametrize(("camera", "subjects"), [("flir", 544), ("ici", 539)])
def test_row_counts_match_the_files(study, camera, subjects):
    rows = file_rows(camera)
    assert len(rows) == subjects == study.subjects[camera]  # README: 544 and 539 subjects
    assert study.dropped_subjects == {}  # every subject has an oral reference
    for site, column in (("canthus", "canthiMax"), ("forehead", "T_FHCC")):
        filled = sum(1 for row in rows for r in range(1, 5) if row[f"{column}{r}"].strip())
        got = study.readings.select(camera=camera, site=Site(site))
        assert len(got) == filled
        assert study.missing_rounds[(camera, Site(site))] == 4 * subjects - filled
    # The figures the docs report: rounds left out for an empty value.
    assert study.missing_rounds[("flir", Site.CANTHUS)] == 37
    assert study.missing_rounds[("ici", Site.CANTHUS)] == 221


def test_both_cameras_share_people_and_truth(study):
    r = study.readings
    assert np.unique(r.subject_id).size == 547  # 536 in both files, 8 FLIR only, 3 ICI only
    by_subject = defaultdict(set)
    for subject, person, oral in zip(r.subject_id, r.person_id, r.oral_c, strict=True):
        by_subject[subject].add((person, float(oral)))
    assert all(len(v) == 1 for v in by_subject.values())
    assert r.person_id[0] == "fda-0001"
    assert r.subject_id[0] == "161117-1"


@pytest.mark.parametrize(
    ("subject", "oral", "febrile"),
    [
        ("161117-1", 36.59, False),
        ("161129-1", 37.79, True),
        ("170317-11", 37.49, False),  # just below the 37.5 line
        ("170419-08", 37.54, True),  # just above it
    ],
)
def test_truth_on_known_rows(study, replay_csv, subject, oral, febrile):
    r = study.readings
    rows = r.subject_id == subject
    assert rows.any()
    assert np.allclose(r.oral_c[rows], oral)
    assert (r.febrile[rows] == febrile).all()
    person = str(r.person_id[rows][0])
    replayed = [row for row in replay_csv if row["person_id"] == person]
    assert replayed
    assert {row["truth_febrile"] for row in replayed} == {"1" if febrile else "0"}
    assert {row["truth_oral_c"] for row in replayed} == {f"{oral:.2f}"}


def test_displayed_is_skin_plus_the_body_mode_offset(study):
    r = study.readings
    first = (r.subject_id == "161117-1") & (r.camera == "flir") & (r.round == 1)
    by_site = {str(s): float(d) for s, d in zip(r.site[first], r.displayed_c[first], strict=True)}
    assert by_site == {
        "canthus": pytest.approx(35.36 + 1.3),
        "forehead": pytest.approx(33.29 + 2.7),
    }
    for site, offset in BODY_MODE_OFFSET_C.items():
        s = r.select(site=site)
        assert np.allclose(s.displayed_c, s.skin_c + offset, atol=0.006)


def test_replay_csv_has_the_contract_columns_plus_passthrough(study, replay_csv):
    out = io.StringIO()
    count = write_replay_csv(replay_rows(study.readings), out)
    assert out.getvalue().splitlines()[0].split(",") == CONTRACT_COLUMNS + PASSTHROUGH
    assert count == len(replay_csv) == len(study.readings) == 2 * (2139 + 1935)
    last_by_device: dict[str, dt.datetime] = {}
    previous = None
    for row in replay_csv:
        ts = dt.datetime.fromisoformat(row["ts"])
        assert ts.utcoffset() is not None
        assert previous is None or ts >= previous
        device = row["device_id"]
        assert device not in last_by_device or ts > last_by_device[device]
        last_by_device[device], previous = ts, ts
        assert device == f"fda-{device.split('-')[1]}-{row['site']}"
        assert (row["building"], row["entrance"], row["device_kind"], row["placement"]) == (
            "fda",
            "lab",
            "kiosk",
            "lobby",
        )
        assert row["site"] in {"canthus", "forehead"}
        assert row["error"] == ""
        assert 30.0 < float(row["temp_c"]) < 41.0
        assert 20.0 <= float(row["ambient_c"]) <= 24.0
        assert row["truth_febrile"] == ("1" if float(row["truth_oral_c"]) >= 37.5 else "0")
        assert row["fda_round"] in {"1", "2", "3", "4"}
    assert set(last_by_device) == {
        "fda-flir-canthus",
        "fda-flir-forehead",
        "fda-ici-canthus",
        "fda-ici-forehead",
    }


def test_ambient_is_the_room_temperature_of_the_file(study, replay_csv):
    rows = {row["SubjectID"]: row for row in file_rows("flir")}
    r = study.readings
    person_to_subject = dict(zip(r.person_id.tolist(), r.subject_id.tolist(), strict=True))
    for row in replay_csv[:200]:
        subject = person_to_subject[row["person_id"]]
        if subject in rows:
            assert float(row["ambient_c"]) == pytest.approx(float(rows[subject]["T_atm"]))


def test_canthus_calibration_separates_fevers(study):
    """A property of the data: the fitted canthus calibration ranks fevers well, held out too."""
    canthus = study.readings.select(site=Site.CANTHUS)
    pooled = fit_calibration(canthus).calibration
    values = pooled.apply(canthus.displayed_c, canthus.ambient_c)
    assert roc_auc(values, canthus.febrile) >= 0.9
    assert pooled.slope > 0
    for train, test in (("flir", "ici"), ("ici", "flir")):
        fitted = fit_calibration(canthus.select(camera=train)).calibration
        held_out = canthus.select(camera=test)
        scores = fitted.apply(held_out.displayed_c, held_out.ambient_c)
        assert roc_auc(scores, held_out.febrile) >= 0.9
    forehead = study.readings.select(site=Site.FOREHEAD)
    assert roc_auc(forehead.displayed_c, forehead.febrile) < roc_auc(
        canthus.displayed_c, canthus.febrile
    )


def test_calibration_cuts_false_alarms_of_the_raw_rule(study):
    canthus = study.readings.select(site=Site.CANTHUS)
    calibrated = fit_calibration(canthus).calibration.apply(canthus.displayed_c, canthus.ambient_c)
    raw = rule_metrics(canthus.displayed_c, canthus.febrile, 37.3)
    fitted = rule_metrics(calibrated, canthus.febrile, 37.3)
    assert fitted.specificity > raw.specificity
    assert fitted.alarms_per_1000 < raw.alarms_per_1000


def test_bench_script_writes_the_replay_csv(study, tmp_path):
    out = tmp_path / "fda.csv"
    script = REPO / "bench" / "fda_to_replay.py"
    done = subprocess.run(
        [sys.executable, str(script), str(DATA), str(out)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert "8148 readings of 547 subjects" in done.stderr
    with out.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(study.readings)


# --- the statistics, on made-up numbers (no data needed) ---------------------------------


def test_fit_recovers_known_coefficients():
    rng = np.random.default_rng(3)
    n = 400
    displayed = rng.normal(36.8, 0.5, n)
    ambient = rng.uniform(20, 26, n)
    readings = FdaReadings(
        subject_id=np.array([f"s{i // 2}" for i in range(n)]),
        person_id=np.array([f"p{i // 2}" for i in range(n)]),
        subject_index=np.arange(n) // 2,
        camera=np.full(n, "flir"),
        site=np.full(n, "canthus"),
        round=np.arange(n) % 2 + 1,
        skin_c=displayed - 1.3,
        displayed_c=displayed,
        oral_c=12.0 + 0.67 * displayed - 0.05 * (ambient - 23.0) + rng.normal(0, 0.05, n),
        ambient_c=ambient,
    )
    fit = fit_calibration(readings)
    assert fit.calibration.slope == pytest.approx(0.67, abs=0.02)
    assert fit.calibration.ambient_coef == pytest.approx(-0.05, abs=0.01)
    assert fit.calibration.offset_c == pytest.approx(12.0, abs=0.7)
    assert fit.subjects == n // 2
    assert 0 < fit.slope_se < 0.02


def test_auc_counts_ties_half():
    truth = np.array([False, False, True, True])
    assert roc_auc(np.array([1.0, 2.0, 3.0, 4.0]), truth) == 1.0
    assert roc_auc(np.array([4.0, 3.0, 2.0, 1.0]), truth) == 0.0
    assert roc_auc(np.array([1.0, 1.0, 1.0, 1.0]), truth) == 0.5
    assert roc_auc(np.array([1.0, 2.0, 2.0, 3.0]), truth) == pytest.approx(0.875)
    with pytest.raises(ValueError, match="both"):
        roc_auc(np.array([1.0]), np.array([True]))


def test_threshold_for_specificity_keeps_the_specificity():
    rng = np.random.default_rng(5)
    values = rng.normal(36.8, 0.4, 1000)
    truth = rng.random(1000) < 0.1
    for target in (0.9, 0.95, 0.99):
        cut = threshold_for_specificity(values, truth, target)
        assert rule_metrics(values, truth, cut).specificity >= target
        # it is the lowest such threshold: at the highest quiet afebrile value, one more alarms
        quiet = values[~truth][values[~truth] < cut].max()
        assert rule_metrics(values, truth, float(quiet)).specificity < target


def test_load_fails_clearly_on_a_wrong_folder(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_fda(tmp_path)
    (tmp_path / "FLIR_group1.csv").write_text("a\nb\nSubjectID,aveOralM\n1,37\n", "utf-8")
    with pytest.raises(ValueError, match="missing columns"):
        load_fda(tmp_path, cameras=("flir",))
