"""Write the FDA study (group 1) as a replay input CSV, for ``thermogate replay``.

python bench/fda_to_replay.py IN_DIR OUT.csv [--start 2020-03-02T08:00:00+08:00]

IN_DIR holds FLIR_group1.csv and ICI_group1.csv (usually ../shared/data/fda-face-oral). Every
round of every camera becomes one kiosk reading in the lobby of building ``fda``: devices
``fda-<camera>-<site>``, person ids ``fda-0001``..., one subject per minute; the columns
``truth_febrile`` (oral ≥ 37.5 °C), ``truth_oral_c`` and ``fda_round`` pass through.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from thermogate.firmware_sim.fda import DEFAULT_START, load_fda, replay_rows, write_replay_csv


def aware_time(text: str) -> dt.datetime:
    """An RFC 3339 time with its UTC offset, for ``--start``."""
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an RFC 3339 time: {text!r}") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no UTC offset (e.g. +08:00)")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("in_dir", type=Path, help="folder with the group-1 CSV files")
    parser.add_argument("out", type=Path, help="replay CSV to write ('-' for stdout)")
    parser.add_argument(
        "--start",
        type=aware_time,
        default=DEFAULT_START,
        help="time of the first subject, RFC 3339 with offset",
    )
    args = parser.parse_args()
    study = load_fda(args.in_dir)
    rows = replay_rows(study.readings, start=args.start)
    if str(args.out) == "-":
        written = write_replay_csv(rows, sys.stdout)
    else:
        with args.out.open("w", encoding="utf-8", newline="") as out:
            written = write_replay_csv(rows, out)
    missing = sum(study.missing_rounds.values())
    print(
        f"{written} readings of {len(set(study.readings.subject_id.tolist()))} subjects "
        f"({missing} empty rounds left out) -> {args.out}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
