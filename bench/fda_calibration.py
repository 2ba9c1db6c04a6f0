"""Kiosk calibration on the FDA facial/oral study (group 1), and how the fever rules do on it.

python bench/fda_calibration.py [DATA_DIR] [--folds 5] [--bootstrap 2000] [--seed 1]

DATA_DIR defaults to ../shared/data/fda-face-oral beside the repository. Every round of every
camera is one reading (one pass in front of a kiosk); the displayed body-mode value is the
skin value plus 1.3 °C (canthus) or 2.7 °C (forehead); truth is oral ≥ 37.5 °C. Prints the
least-squares calibration per site (standard errors clustered by subject), AUCs, and the
sensitivity, specificity and alarms per 1,000 readings of the raw 37.3 °C rule and of the
calibrated rule, in-sample and held out (by camera, and by subject in k folds). Method and
figures: docs/fda-calibration.md.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from thermogate.contract.messages import Site
from thermogate.firmware_sim.fda import (
    AMBIENT_REF_C,
    BODY_MODE_OFFSET_C,
    CAMERA_FILES,
    FEVER_ORAL_C,
    Calibration,
    FdaReadings,
    RuleMetrics,
    default_data_dir,
    fit_calibration,
    load_fda,
    roc_auc,
    rule_metrics,
    threshold_for_specificity,
)

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

RAW_THRESHOLD_C = 37.3
"""The fixed screening threshold in use (China), and the engine's default threshold."""
TARGET_SPECIFICITY = 0.95
DOOR_PREVALENCE = 0.002
"""Share of febrile passes at a dorm door (0.01-0.4 % of person-days, fever-science.md)."""
SITES = (Site.CANTHUS, Site.FOREHEAD)
CAMERAS = (*CAMERA_FILES, None)  # None: both cameras pooled


def camera_label(camera: str | None) -> str:
    return "both" if camera is None else camera


@dataclass(frozen=True, slots=True)
class Interval:
    """A bootstrap 95 % interval of sensitivity and specificity."""

    sens_lo: float
    sens_hi: float
    spec_lo: float
    spec_hi: float


def bootstrap(
    alarm: BoolArray, truth: BoolArray, subject: npt.NDArray[np.str_], draws: int, seed: int
) -> Interval:
    """Percentile intervals from resampling subjects (all their readings go together)."""
    _, cluster = np.unique(subject, return_inverse=True)
    groups = int(cluster.max()) + 1
    counts = np.zeros((4, groups))
    np.add.at(counts[0], cluster, alarm & truth)
    np.add.at(counts[1], cluster, truth)
    np.add.at(counts[2], cluster, ~alarm & ~truth)
    np.add.at(counts[3], cluster, ~truth)
    rng = np.random.default_rng(seed)
    weights = np.stack(
        [np.bincount(rng.integers(0, groups, groups), minlength=groups) for _ in range(draws)]
    ).astype(np.float64)
    totals = weights @ counts.T  # draws x 4
    with np.errstate(invalid="ignore", divide="ignore"):
        sens = totals[:, 0] / totals[:, 1]
        spec = totals[:, 2] / totals[:, 3]
    s_lo, s_hi = np.nanpercentile(sens, [2.5, 97.5])
    p_lo, p_hi = np.nanpercentile(spec, [2.5, 97.5])
    return Interval(float(s_lo), float(s_hi), float(p_lo), float(p_hi))


def youden(values: FloatArray, truth: BoolArray) -> RuleMetrics:
    """The single threshold with the largest sensitivity + specificity."""
    distinct = np.unique(values)
    cuts = (distinct[:-1] + distinct[1:]) / 2.0
    alarm = values[None, :] >= cuts[:, None]
    sens = alarm[:, truth].mean(axis=1)
    spec = (~alarm[:, ~truth]).mean(axis=1)
    best = int(np.argmax(sens + spec))
    return rule_metrics(values, truth, float(cuts[best]))


def rule_line(
    label: str,
    *,
    metrics: RuleMetrics,
    readings: FdaReadings,
    values: FloatArray,
    draws: int,
    seed: int,
) -> str:
    """One table row: threshold, sensitivity and specificity with intervals, alarms."""
    alarm = values >= metrics.threshold_c - 1e-9
    ci = bootstrap(alarm, readings.febrile, readings.subject_id, draws, seed)
    return (
        f"  {label:<38} {metrics.threshold_c:6.2f}  "
        f"{metrics.sensitivity:5.3f} [{ci.sens_lo:4.2f}-{ci.sens_hi:4.2f}]  "
        f"{metrics.specificity:5.3f} [{ci.spec_lo:4.2f}-{ci.spec_hi:4.2f}]  "
        f"{metrics.alarms_per_1000:6.1f}  {metrics.alarms_per_1000_at(DOOR_PREVALENCE):6.1f}"
    )


def subject_means(readings: FdaReadings) -> tuple[FloatArray, BoolArray]:
    """Mean displayed value over the rounds of each (subject, camera), and its truth."""
    keys = np.char.add(np.char.add(readings.subject_id, "|"), readings.camera)
    _, group = np.unique(keys, return_inverse=True)
    n = int(group.max()) + 1
    sums = np.bincount(group, weights=readings.displayed_c, minlength=n)
    counts = np.bincount(group, minlength=n)
    truth = np.zeros(n, dtype=np.bool_)
    truth[group] = readings.febrile
    return sums / counts, truth


def print_data(readings: FdaReadings, data_dir: Path) -> None:
    study_note = "Wang et al. 2023, PhysioNet doi:10.13026/3bhc-9065, group 1"
    print(f"FDA facial and oral temperatures ({study_note}): {data_dir}")
    print(
        f"  display: canthus = canthiMax + {BODY_MODE_OFFSET_C[Site.CANTHUS]}, forehead = ", end=""
    )
    print(f"T_FHCC + {BODY_MODE_OFFSET_C[Site.FOREHEAD]}; truth: aveOralM >= {FEVER_ORAL_C}")
    subjects_all = np.unique(readings.subject_id)
    febrile_all = np.unique(readings.subject_id[readings.febrile])
    print(
        f"  {subjects_all.size} distinct subjects ({febrile_all.size} febrile) over both "
        f"cameras; ambient {np.nanmin(readings.ambient_c):.1f}-"
        f"{np.nanmax(readings.ambient_c):.1f} °C, median {np.nanmedian(readings.ambient_c):.1f}"
    )


def print_gaps(readings: FdaReadings) -> None:
    print("\nMean oral minus skin value (°C) per round: subjects warm up to the room")
    for site in SITES:
        for camera in CAMERA_FILES:
            rows = readings.select(camera=camera, site=site)
            gaps = [
                float(np.mean(rows.oral_c[rows.round == r] - rows.skin_c[rows.round == r]))
                for r in range(1, 5)
            ]
            joined = "  ".join(f"{g:5.2f}" for g in gaps)
            overall = float(np.mean(rows.oral_c - rows.skin_c))
            print(f"  {site.value:<9} {camera:<5} {joined}   all {overall:5.2f}")


def print_fits(readings: FdaReadings) -> dict[Site, Calibration]:
    print(
        "\n1. Calibration, both cameras pooled, rounds as readings: least squares "
        f"oral = offset + slope * displayed + ambient_coef * (T_atm - {AMBIENT_REF_C})"
    )
    print("   (standard errors clustered by subject: the up to 8 readings of a person share the")
    print("   oral reference and most of the error; naive OLS errors are 2-5 times smaller)")
    fitted: dict[Site, Calibration] = {}
    for site in SITES:
        rows = readings.select(site=site)
        fit = fit_calibration(rows)
        c = fit.calibration
        fitted[site] = c.rounded()
        print(
            f"  {site.value:<9} offset {c.offset_c:7.3f} ± {fit.offset_se:5.3f}  slope "
            f"{c.slope:6.4f} ± {fit.slope_se:6.4f}  ambient_coef {c.ambient_coef:+7.4f} ± "
            f"{fit.ambient_se:6.4f}  ref {c.ambient_ref_c:4.1f}  "
            f"({fit.readings} readings, {fit.subjects} subjects, residual SD "
            f"{fit.residual_sd_c:4.2f} °C)"
        )
        plain = fit_calibration(rows, ambient=False).calibration
        print(f"  {'':<9} without ambient term: offset {plain.offset_c:7.3f}  ", end="")
        print(f"slope {plain.slope:6.4f}")
        # The forward view, to compare with fever-science.md: displayed per °C oral and ambient.
        x = np.column_stack([np.ones(len(rows)), rows.oral_c, rows.ambient_c - AMBIENT_REF_C])
        forward, *_ = np.linalg.lstsq(x, rows.displayed_c, rcond=None)
        print(
            f"  {'':<9} forward check: displayed rises {forward[1]:4.2f} °C per °C oral and "
            f"{forward[2]:+5.3f} °C per °C room"
        )
    print("\n  As engine defaults (rounded; the figures below use these):")
    for site, c in fitted.items():
        print(
            f'    [[engine.calibration]] kind = "kiosk"  site = "{site.value}"  '
            f"offset_c = {c.offset_c}  slope = {c.slope}  ambient_coef = {c.ambient_coef}  "
            f"ambient_ref_c = {c.ambient_ref_c}"
        )
    return fitted


def print_aucs(readings: FdaReadings, fitted: dict[Site, Calibration]) -> None:
    print(f"\n2. AUC for oral >= {FEVER_ORAL_C} (published, inner eye corner: 0.95-0.97)")
    print(
        f"  {'site':<9} {'camera':<6} {'readings':>8} {'febrile':>7}  {'displayed':>9}  "
        f"{'calibrated':>10}  {'subject mean':>12}"
    )
    for site in SITES:
        for camera in CAMERAS:
            rows = readings.select(camera=camera, site=site)
            calibrated = fitted[site].apply(rows.displayed_c, rows.ambient_c)
            means, truth = subject_means(rows)
            print(
                f"  {site.value:<9} {camera_label(camera):<6} {len(rows):>8} "
                f"{int(rows.febrile.sum()):>7}  {roc_auc(rows.displayed_c, rows.febrile):9.3f}  "
                f"{roc_auc(calibrated, rows.febrile):10.3f}  {roc_auc(means, truth):12.3f}"
            )


def print_rules(
    readings: FdaReadings, fitted: dict[Site, Calibration], draws: int, seed: int
) -> None:
    print(
        "\n3. Rules per reading, in-sample (coefficients fitted on all of it); [95 % interval,"
        " resampling subjects]"
    )
    print(
        f"  {'rule':<38} {'thresh':>6}  {'sensitivity':<18} {'specificity':<18} "
        f"{'/1000':>6}  {'@0.2%':>6}"
    )
    for site in SITES:
        for camera in CAMERAS:
            rows = readings.select(camera=camera, site=site)
            truth = rows.febrile
            calibration = fitted[site]
            calibrated = calibration.apply(rows.displayed_c, rows.ambient_c)
            no_ambient = calibration.apply(rows.displayed_c)
            spec_cut = threshold_for_specificity(calibrated, truth, TARGET_SPECIFICITY)
            shown_cut = threshold_for_specificity(rows.displayed_c, truth, TARGET_SPECIFICITY)
            print(
                f" {site.value} kiosk, camera {camera_label(camera)}: {len(rows)} readings, "
                f"{int(truth.sum())} febrile"
            )
            table: list[tuple[str, FloatArray, RuleMetrics]] = [
                (
                    "raw displayed >= 37.3",
                    rows.displayed_c,
                    rule_metrics(rows.displayed_c, truth, RAW_THRESHOLD_C),
                ),
                (
                    "calibrated >= 37.3 (engine default)",
                    calibrated,
                    rule_metrics(calibrated, truth, RAW_THRESHOLD_C),
                ),
                (
                    "calibrated, ambient unknown, >= 37.3",
                    no_ambient,
                    rule_metrics(no_ambient, truth, RAW_THRESHOLD_C),
                ),
                ("calibrated >= 37.5", calibrated, rule_metrics(calibrated, truth, FEVER_ORAL_C)),
                (
                    "calibrated at specificity 0.95",
                    calibrated,
                    rule_metrics(calibrated, truth, spec_cut),
                ),
                (
                    "  the same, threshold to 0.1 °C",
                    calibrated,
                    rule_metrics(calibrated, truth, round(spec_cut, 1)),
                ),
                (
                    "displayed at specificity 0.95",
                    rows.displayed_c,
                    rule_metrics(rows.displayed_c, truth, shown_cut),
                ),
                ("best single (Youden), calibrated", calibrated, youden(calibrated, truth)),
                (
                    "best single (Youden), displayed",
                    rows.displayed_c,
                    youden(rows.displayed_c, truth),
                ),
            ]
            for label, values, metrics in table:
                print(
                    rule_line(
                        label, metrics=metrics, readings=rows, values=values, draws=draws, seed=seed
                    )
                )


def print_cross_camera(readings: FdaReadings) -> None:
    print(
        "\n4a. Held out by camera: fit on one camera, test on the other (the same people, so"
        " this holds out the instrument, not the person)"
    )
    for site in SITES:
        for train, test in (("flir", "ici"), ("ici", "flir")):
            fit_rows = readings.select(camera=train, site=site)
            test_rows = readings.select(camera=test, site=site)
            c = fit_calibration(fit_rows).calibration.rounded()
            cut = threshold_for_specificity(
                c.apply(fit_rows.displayed_c, fit_rows.ambient_c),
                fit_rows.febrile,
                TARGET_SPECIFICITY,
            )
            values = c.apply(test_rows.displayed_c, test_rows.ambient_c)
            at_default = rule_metrics(values, test_rows.febrile, RAW_THRESHOLD_C)
            at_cut = rule_metrics(values, test_rows.febrile, cut)
            print(
                f"  {site.value:<9} {train}->{test:<5} offset {c.offset_c:7.3f} slope "
                f"{c.slope:6.4f} amb {c.ambient_coef:+7.4f}  AUC "
                f"{roc_auc(values, test_rows.febrile):5.3f}  @37.3 sens "
                f"{at_default.sensitivity:5.3f} spec {at_default.specificity:5.3f} "
                f"/1000 {at_default.alarms_per_1000:5.1f}  @{cut:5.2f} (spec 0.95 on train) "
                f"sens {at_cut.sensitivity:5.3f} spec {at_cut.specificity:5.3f} "
                f"/1000 {at_cut.alarms_per_1000:5.1f}"
            )


def print_folds(readings: FdaReadings, folds: int, seed: int) -> None:
    print(
        f"\n4b. Held out by subject: {folds} folds over people (both cameras and all rounds of a"
        " person in one fold); out-of-fold figures"
    )
    subjects = np.unique(readings.subject_id)
    rng = np.random.default_rng(seed)
    fold_of = dict(zip(subjects.tolist(), rng.permutation(subjects.size) % folds, strict=True))
    for site in SITES:
        rows = readings.select(site=site)
        fold = np.array([fold_of[s] for s in rows.subject_id.tolist()])
        values = np.empty(len(rows))
        alarm_cut = np.zeros(len(rows), dtype=np.bool_)
        slopes: list[float] = []
        for k in range(folds):
            train, test = rows.where(fold != k), rows.where(fold == k)
            c = fit_calibration(train).calibration.rounded()
            slopes.append(c.slope)
            cut = threshold_for_specificity(
                c.apply(train.displayed_c, train.ambient_c), train.febrile, TARGET_SPECIFICITY
            )
            values[fold == k] = c.apply(test.displayed_c, test.ambient_c)
            alarm_cut[fold == k] = values[fold == k] >= cut - 1e-9
        truth = rows.febrile
        at_default = rule_metrics(values, truth, RAW_THRESHOLD_C)
        print(
            f"  {site.value:<9} slopes {min(slopes):6.4f}-{max(slopes):6.4f}  AUC "
            f"{roc_auc(values, truth):5.3f}  @37.3 sens {at_default.sensitivity:5.3f} spec "
            f"{at_default.specificity:5.3f} /1000 {at_default.alarms_per_1000:5.1f}  "
            f"@spec-0.95 cut of the training folds: sens {alarm_cut[truth].mean():5.3f} spec "
            f"{(~alarm_cut[~truth]).mean():5.3f} /1000 {1000 * alarm_cut.mean():5.1f}"
        )


def main() -> None:
    repo_root = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("data_dir", nargs="?", type=Path, default=default_data_dir(repo_root))
    parser.add_argument("--folds", type=int, default=5, help="subject folds for 4b")
    parser.add_argument("--bootstrap", type=int, default=2000, help="resamples per interval")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    study = load_fda(args.data_dir)
    readings = study.readings
    print_data(readings, args.data_dir)
    for camera, count in study.subjects.items():
        kept = readings.select(camera=camera)
        per_site = ", ".join(
            f"{site.value} {len(kept.select(site=site))} readings "
            f"({study.missing_rounds[(camera, site)]} empty rounds left out)"
            for site in SITES
        )
        febrile = np.unique(kept.subject_id[kept.febrile]).size
        print(f"  {camera}: {count} subjects ({febrile} febrile); {per_site}")
    for camera, dropped in study.dropped_subjects.items():
        print(f"  {camera}: {len(dropped)} subjects without oral reference left out")
    print_gaps(readings)
    fitted = print_fits(readings)
    print_aucs(readings, fitted)
    print_rules(readings, fitted, args.bootstrap, args.seed)
    print_cross_camera(readings)
    print_folds(readings, args.folds, args.seed)


if __name__ == "__main__":
    main()
