"""The FDA facial and oral temperature study (group 1) as kiosk readings, and the fit on it.

Source: Wang Q. et al. (2023), *Facial and oral temperature data from a large set of human
subject volunteers*, PhysioNet, doi:10.13026/3bhc-9065 (CC0); group 1 files only, kept in
``shared/data/fda-face-oral`` beside the repository (callers pass the folder in).

Two thermal cameras (FLIR, ICI) imaged the same rested, indoor subjects in up to four
rounds; each subject has one oral reference (``aveOralM``) and one room
temperature (``T_atm``). Each round of each camera is one *reading*, as one pass in front of a
kiosk is: a kiosk in body mode shows the camera's skin value plus a fixed offset
(:data:`BODY_MODE_OFFSET_C`). Truth is oral ≥ 37.5 °C, the study's elevated temperature.

The module reads the files into columns (:func:`load_fda`), turns them into rows of the replay
input contract (:func:`replay_rows`, :func:`write_replay_csv`) and holds the small statistics
the calibration bench and tests share (:func:`fit_calibration`, :func:`roc_auc`,
:func:`rule_metrics`, :func:`threshold_for_specificity`). Method and figures:
docs/fda-calibration.md.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, TextIO

import numpy as np
import numpy.typing as npt

from thermogate.contract.messages import DeviceKind, Placement, Site
from thermogate.firmware_sim.body import CAMPUS_TZ
from thermogate.replay.reader import REQUIRED_COLUMNS

__all__ = [
    "AMBIENT_REF_C",
    "BODY_MODE_OFFSET_C",
    "CAMERA_FILES",
    "DEFAULT_START",
    "FEVER_ORAL_C",
    "PASSTHROUGH_COLUMNS",
    "REPLAY_COLUMNS",
    "SITE_COLUMNS",
    "Calibration",
    "CalibrationFit",
    "FdaReadings",
    "FdaStudy",
    "RuleMetrics",
    "default_data_dir",
    "device_id",
    "fit_calibration",
    "load_fda",
    "replay_rows",
    "roc_auc",
    "rule_metrics",
    "threshold_for_specificity",
    "write_replay_csv",
]

CAMERA_FILES: Final[Mapping[str, str]] = {"flir": "FLIR_group1.csv", "ici": "ICI_group1.csv"}
"""Camera name (IRT-1 FLIR, IRT-2 ICI 8640) and its group-1 file."""
SITE_COLUMNS: Final[Mapping[Site, str]] = {Site.CANTHUS: "canthiMax", Site.FOREHEAD: "T_FHCC"}
"""The study column (without the round suffix) a kiosk of each site would measure."""
BODY_MODE_OFFSET_C: Final[Mapping[Site, float]] = {Site.CANTHUS: 1.3, Site.FOREHEAD: 2.7}
"""What a body-mode kiosk adds to the skin value: the published mean oral-minus-skin gap,
1.3 °C at the inner eye corner and 2.6-2.9 °C (taken as 2.7) at the forehead centre
(fever-science.md; group 1 itself gives 1.32 and 2.70 over all readings)."""
FEVER_ORAL_C: Final = 37.5
"""Oral temperature at or above which the study calls a subject elevated: the truth."""
AMBIENT_REF_C: Final = 23.0
"""Room temperature at which the ambient term is zero (the engine's default reference)."""
ROUNDS: Final = 4
ORAL_COLUMN: Final = "aveOralM"
AMBIENT_COLUMN: Final = "T_atm"
SUBJECT_COLUMN: Final = "SubjectID"
HEADER_ROW: Final = 2
"""Rows 0-1 are round labels and symbols; row 2 holds the column names."""

REPLAY_COLUMNS: Final = REQUIRED_COLUMNS
"""The replay input contract's columns, in order."""
PASSTHROUGH_COLUMNS: Final = ("truth_febrile", "truth_oral_c", "fda_round")
"""Extra columns the replay passes through: ``1``/``0`` for oral ≥ 37.5, the oral reference
in °C, and the study's round (1-4) of the reading."""
DEFAULT_START: Final = dt.datetime(2020, 3, 2, 8, 0, tzinfo=CAMPUS_TZ)
"""Synthetic time of the first subject; one subject per minute after it."""
BUILDING: Final = "fda"
ENTRANCE: Final = "lab"

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
StrArray = npt.NDArray[np.str_]


def default_data_dir(repo_root: Path) -> Path:
    """Where the data lie by default: ``shared/data/fda-face-oral`` beside the repository."""
    return repo_root.parent / "shared" / "data" / "fda-face-oral"


def device_id(camera: str, site: Site) -> str:
    """The replay device of one camera and site, e.g. ``fda-flir-canthus``."""
    return f"fda-{camera}-{site.value}"


@dataclass(frozen=True, slots=True)
class FdaReadings:
    """Readings as columns, one row per (camera, site, subject, round) with a value."""

    subject_id: StrArray
    """The study's SubjectID (e.g. ``161117-1``); the same person in both cameras."""
    person_id: StrArray
    """Pseudonymous id ``fda-0001``..., numbered in SubjectID order."""
    subject_index: IntArray
    """0-based position of the subject in SubjectID order (sets the synthetic time)."""
    camera: StrArray
    site: StrArray
    """:class:`Site` values."""
    round: IntArray
    skin_c: FloatArray
    """The camera's skin value (``canthiMax`` or ``T_FHCC``)."""
    displayed_c: FloatArray
    """What a body-mode kiosk shows: skin plus :data:`BODY_MODE_OFFSET_C`, to 0.01 °C."""
    oral_c: FloatArray
    ambient_c: FloatArray
    """Room temperature ``T_atm``; NaN where the file has none."""

    def __len__(self) -> int:
        return int(self.skin_c.shape[0])

    @property
    def febrile(self) -> BoolArray:
        """The truth: oral ≥ 37.5 °C."""
        return self.oral_c >= FEVER_ORAL_C - 1e-9

    def where(self, mask: BoolArray | IntArray) -> FdaReadings:
        """The rows a boolean mask or an index array selects."""
        return FdaReadings(
            subject_id=self.subject_id[mask],
            person_id=self.person_id[mask],
            subject_index=self.subject_index[mask],
            camera=self.camera[mask],
            site=self.site[mask],
            round=self.round[mask],
            skin_c=self.skin_c[mask],
            displayed_c=self.displayed_c[mask],
            oral_c=self.oral_c[mask],
            ambient_c=self.ambient_c[mask],
        )

    def select(self, *, camera: str | None = None, site: Site | None = None) -> FdaReadings:
        """The readings of one camera and/or one site."""
        mask = np.ones(len(self), dtype=np.bool_)
        if camera is not None:
            mask &= self.camera == camera
        if site is not None:
            mask &= self.site == site.value
        return self.where(mask)


@dataclass(frozen=True, slots=True)
class FdaStudy:
    """What :func:`load_fda` read, and what it left out."""

    readings: FdaReadings
    subjects: Mapping[str, int]
    """Subject rows read per camera file (including any in ``dropped_subjects``)."""
    missing_rounds: Mapping[tuple[str, Site], int]
    """Per (camera, site): rounds whose value is empty in the file, hence no reading."""
    dropped_subjects: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Per camera: subjects without an oral reference (no truth), left out entirely."""


def _number(text: str, where: str) -> float:
    """A float, NaN for an empty cell; a clear error for anything else."""
    text = text.strip()
    if not text:
        return float("nan")
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{where}: not a number: {text!r}") from None


def _subject_key(subject_id: str) -> tuple[str, int, str]:
    """SubjectID order: date part, then the sequence number as a number (``-2`` < ``-10``)."""
    date, _, seq = subject_id.partition("-")
    return (date, int(seq), "") if seq.isdigit() else (date, -1, seq)


def _read_file(path: Path) -> tuple[list[str], list[list[str]]]:
    """The column names and data rows of one study file."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    if len(rows) <= HEADER_ROW:
        raise ValueError(f"{path}: fewer than {HEADER_ROW + 1} rows; not a study file")
    header = [name.strip() for name in rows[HEADER_ROW]]
    data = [row for row in rows[HEADER_ROW + 1 :] if any(cell.strip() for cell in row)]
    return header, data


_Raw = tuple[str, str, int, Site, float, float, float]
"""subject, camera, round, site, skin, oral, ambient"""


def _read_camera(data_dir: Path, camera: str) -> tuple[int, list[_Raw], dict[Site, int], list[str]]:
    """Subject rows, readings, empty rounds per site and subjects without truth of one file."""
    path = data_dir / CAMERA_FILES[camera]
    header, rows = _read_file(path)
    wanted = [SUBJECT_COLUMN, ORAL_COLUMN, AMBIENT_COLUMN] + [
        f"{column}{r}" for column in SITE_COLUMNS.values() for r in range(1, ROUNDS + 1)
    ]
    absent = [name for name in wanted if name not in header]
    if absent:
        raise ValueError(f"{path}: missing columns {', '.join(absent)}")
    index = {name: header.index(name) for name in wanted}
    readings: list[_Raw] = []
    missing = dict.fromkeys(SITE_COLUMNS, 0)
    no_truth: list[str] = []
    for line, row in enumerate(rows, start=HEADER_ROW + 2):
        cells = {
            name: _number(row[i] if i < len(row) else "", f"{path.name} line {line} {name}")
            for name, i in index.items()
            if name != SUBJECT_COLUMN
        }
        subject = row[index[SUBJECT_COLUMN]].strip()
        oral, ambient = cells[ORAL_COLUMN], cells[AMBIENT_COLUMN]
        if np.isnan(oral):
            no_truth.append(subject)
            continue
        for site, column in SITE_COLUMNS.items():
            for r in range(1, ROUNDS + 1):
                skin = cells[f"{column}{r}"]
                if np.isnan(skin):
                    missing[site] += 1
                else:
                    readings.append((subject, camera, r, site, skin, oral, ambient))
    return len(rows), readings, missing, no_truth


def load_fda(data_dir: Path, cameras: Sequence[str] = tuple(CAMERA_FILES)) -> FdaStudy:
    """Read the group-1 files of ``cameras`` from ``data_dir`` into readings.

    Rounds with an empty site value give no reading (counted in ``missing_rounds``);
    subjects without an oral reference are left out (``dropped_subjects``). Raises
    ``FileNotFoundError`` for a missing file and ``ValueError`` for a malformed one.
    """
    raw: list[_Raw] = []
    subjects: dict[str, int] = {}
    missing: dict[tuple[str, Site], int] = {}
    dropped: dict[str, tuple[str, ...]] = {}
    for camera in cameras:
        count, readings, empty, no_truth = _read_camera(data_dir, camera)
        subjects[camera] = count
        raw.extend(readings)
        missing.update({(camera, site): n for site, n in empty.items()})
        if no_truth:
            dropped[camera] = tuple(no_truth)
    order = sorted({row[0] for row in raw}, key=_subject_key)
    position = {subject: i for i, subject in enumerate(order)}
    raw.sort(key=lambda row: (position[row[0]], row[2], row[1], row[3].value))
    skin = np.array([row[4] for row in raw], dtype=np.float64)
    offsets = np.array([BODY_MODE_OFFSET_C[row[3]] for row in raw], dtype=np.float64)
    columns = FdaReadings(
        subject_id=np.array([row[0] for row in raw], dtype=np.str_),
        person_id=np.array([f"fda-{position[row[0]] + 1:04d}" for row in raw], dtype=np.str_),
        subject_index=np.array([position[row[0]] for row in raw], dtype=np.int64),
        camera=np.array([row[1] for row in raw], dtype=np.str_),
        site=np.array([row[3].value for row in raw], dtype=np.str_),
        round=np.array([row[2] for row in raw], dtype=np.int64),
        skin_c=skin,
        displayed_c=np.round(skin + offsets, 2),
        oral_c=np.array([row[5] for row in raw], dtype=np.float64),
        ambient_c=np.array([row[6] for row in raw], dtype=np.float64),
    )
    return FdaStudy(columns, subjects, missing, dropped)


def replay_rows(
    readings: FdaReadings,
    start: dt.datetime = DEFAULT_START,
    subject_interval_s: float = 60.0,
    round_interval_s: float = 10.0,
) -> list[dict[str, str]]:
    """Rows of the replay input contract plus :data:`PASSTHROUGH_COLUMNS`, in time order.

    One kiosk per camera and site (:func:`device_id`) in the ``fda`` building's ``lab``
    lobby; subject *i* passes at ``start + i * subject_interval_s``, round *r* of it
    ``(r - 1) * round_interval_s`` later (all four kiosks read a round at the same time).
    """
    if start.tzinfo is None:
        raise ValueError("start must carry a UTC offset (RFC 3339)")
    order = np.lexsort((readings.site, readings.camera, readings.round, readings.subject_index))
    rows: list[dict[str, str]] = []
    for i in order.tolist():
        at = start + dt.timedelta(
            seconds=int(readings.subject_index[i]) * subject_interval_s
            + (int(readings.round[i]) - 1) * round_interval_s
        )
        ambient = float(readings.ambient_c[i])
        oral = float(readings.oral_c[i])
        rows.append(
            {
                "ts": at.isoformat(),
                "building": BUILDING,
                "entrance": ENTRANCE,
                "device_id": device_id(str(readings.camera[i]), Site(str(readings.site[i]))),
                "device_kind": DeviceKind.KIOSK.value,
                "site": str(readings.site[i]),
                "placement": Placement.LOBBY.value,
                "person_id": str(readings.person_id[i]),
                "temp_c": f"{float(readings.displayed_c[i]):.2f}",
                "error": "",
                "ambient_c": "" if np.isnan(ambient) else f"{ambient:.1f}",
                "truth_febrile": "1" if oral >= FEVER_ORAL_C - 1e-9 else "0",
                "truth_oral_c": f"{oral:.2f}",
                "fda_round": str(int(readings.round[i])),
            }
        )
    return rows


def write_replay_csv(rows: Iterable[Mapping[str, str]], out: TextIO) -> int:
    """Write replay rows (header first) to an open text file; returns the rows written."""
    writer = csv.DictWriter(
        out, fieldnames=[*REPLAY_COLUMNS, *PASSTHROUGH_COLUMNS], lineterminator="\n"
    )
    writer.writeheader()
    count = 0
    for row in rows:
        writer.writerow(row)
        count += 1
    return count


# --- statistics shared by bench/fda_calibration.py and the tests ---------------------------


@dataclass(frozen=True, slots=True)
class Calibration:
    """``offset_c + slope * displayed + ambient_coef * (ambient - ambient_ref_c)``."""

    offset_c: float
    slope: float
    ambient_coef: float
    ambient_ref_c: float = AMBIENT_REF_C

    def apply(self, displayed_c: FloatArray, ambient_c: FloatArray | None = None) -> FloatArray:
        """Core-equivalent values; the ambient term is left out where ambient is unknown."""
        adjusted = self.offset_c + self.slope * displayed_c
        if ambient_c is None:
            return adjusted
        term = np.where(
            np.isnan(ambient_c), 0.0, self.ambient_coef * (ambient_c - self.ambient_ref_c)
        )
        return adjusted + term

    def rounded(self) -> Calibration:
        """The coefficients as published: offset to 0.001 °C, slope and ambient to 0.0001."""
        return Calibration(
            round(self.offset_c, 3),
            round(self.slope, 4),
            round(self.ambient_coef, 4),
            self.ambient_ref_c,
        )


@dataclass(frozen=True, slots=True)
class CalibrationFit:
    """A least-squares calibration with standard errors clustered by subject."""

    calibration: Calibration
    offset_se: float
    slope_se: float
    ambient_se: float
    readings: int
    subjects: int
    residual_sd_c: float


def fit_calibration(
    readings: FdaReadings, ambient_ref_c: float = AMBIENT_REF_C, *, ambient: bool = True
) -> CalibrationFit:
    """Least squares ``oral ≈ offset + slope * displayed + ambient_coef * (T_atm - ref)``.

    Rows without an ambient value are left out when ``ambient`` is set. Standard errors are
    the cluster-robust (CR1) sandwich over subjects: the rounds and cameras of one person share
    the oral reference and most of the error, so they are not independent readings.
    """
    rows = readings if not ambient else readings.where(~np.isnan(readings.ambient_c))
    n = len(rows)
    columns = [np.ones(n), rows.displayed_c]
    if ambient:
        columns.append(rows.ambient_c - ambient_ref_c)
    x = np.column_stack(columns)
    y = rows.oral_c
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    residual = y - x @ beta
    bread = np.linalg.inv(x.T @ x)
    _, cluster = np.unique(rows.subject_id, return_inverse=True)
    groups = int(cluster.max()) + 1
    scores = np.zeros((groups, x.shape[1]))
    np.add.at(scores, cluster, x * residual[:, None])
    k = x.shape[1]
    correction = groups / (groups - 1) * (n - 1) / (n - k)
    covariance = correction * bread @ (scores.T @ scores) @ bread
    se = np.sqrt(np.diag(covariance))
    coef = float(beta[2]) if ambient else 0.0
    return CalibrationFit(
        calibration=Calibration(float(beta[0]), float(beta[1]), coef, ambient_ref_c),
        offset_se=float(se[0]),
        slope_se=float(se[1]),
        ambient_se=float(se[2]) if ambient else 0.0,
        readings=n,
        subjects=groups,
        residual_sd_c=float(np.std(residual, ddof=k)),
    )


def roc_auc(scores: FloatArray, truth: BoolArray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted half)."""
    positives = int(truth.sum())
    negatives = int(truth.size - positives)
    if positives == 0 or negatives == 0:
        raise ValueError("the AUC needs both febrile and afebrile readings")
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    mid_ranks = ends - (counts - 1) / 2.0  # 1-based average rank of each distinct value
    rank_sum = float(mid_ranks[inverse][truth].sum())
    return (rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives)


@dataclass(frozen=True, slots=True)
class RuleMetrics:
    """How a rule ``value ≥ threshold`` does against the truth, per reading."""

    threshold_c: float
    sensitivity: float
    specificity: float
    alarms_per_1000: float
    readings: int
    febrile: int

    def alarms_per_1000_at(self, prevalence: float) -> float:
        """Alarms per 1,000 readings where a share ``prevalence`` of readings is febrile."""
        return 1000.0 * (prevalence * self.sensitivity + (1 - prevalence) * (1 - self.specificity))


def rule_metrics(values: FloatArray, truth: BoolArray, threshold_c: float) -> RuleMetrics:
    """Sensitivity, specificity and alarms per 1,000 readings of ``values ≥ threshold_c``."""
    alarm = values >= threshold_c - 1e-9
    febrile = int(truth.sum())
    return RuleMetrics(
        threshold_c=threshold_c,
        sensitivity=float(alarm[truth].mean()) if febrile else float("nan"),
        specificity=float((~alarm[~truth]).mean()) if febrile < truth.size else float("nan"),
        alarms_per_1000=1000.0 * float(alarm.mean()),
        readings=int(truth.size),
        febrile=febrile,
    )


def threshold_for_specificity(values: FloatArray, truth: BoolArray, specificity: float) -> float:
    """The lowest threshold whose rule ``value ≥ t`` keeps at least ``specificity``.

    Thresholds are taken midway between adjacent distinct afebrile values, so the rule does
    not hinge on a tie at the exact value.
    """
    negatives = np.sort(values[~truth])
    if negatives.size == 0:
        raise ValueError("no afebrile readings")
    allowed = int(np.floor((1.0 - specificity) * negatives.size + 1e-9))  # false alarms
    if allowed >= negatives.size:
        return float("-inf")
    top = negatives[negatives.size - allowed - 1]  # the highest value that must stay quiet
    above = negatives[negatives > top]
    return float((top + above[0]) / 2.0) if above.size else float(top + 0.005)
