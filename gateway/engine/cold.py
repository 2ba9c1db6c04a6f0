"""Cold arrivals: how much lower a skin reading is right after someone comes in from the cold.

A forehead read seconds after coming in from -3 °C is about 3.4 °C low and recovers over 10
to 15 minutes (Dzien 2020: 0.15 °C per °C of indoor-outdoor difference at the moment of
entry, a fast and a slow recovery). Where a reading is taken says how long its person has
been indoors: a door reading seconds after arrival, a lobby kiosk about a minute, a room
check long after. So for the placements configured as arrival points
(``engine.cold_placements``, the door by default) and a known outdoor temperature (the
outdoor feed, ``thermogate/v1/weather/<building>``, or the replay's ``outdoor_c`` column),
the engine adds the expected deficit back: ``gain(site) * max(0, indoor - outdoor)``.

The full expected deficit is the published entry figure times the share left after a typical
door delay of about 20 s (0.15 * 0.78 = 0.117 per °C for the forehead), but people arrive
differently cooled (by car 0.4 of that, by bicycle 1.3; and ±30 % person to person), so a
full correction lifts everyone who came by car above the threshold: on the simulated winter
week it took the door's re-checks from 1 to 113 per 1,000 readings and the false ``fever``
person-days to the naive rule's. The default corrects only what nearly every arrival loses,
the car arrival's share (0.4 * 0.117 = 0.047, rounded to 0.05 per °C; a third of that for
the wrist, which cools less; the inner eye corner is perfused and gets none): door readings
become assessable instead of "too low" (748 to 451 invalid per 1,000) at 12 re-checks per
1,000, and what is left of each person's own cooling is what the personal baseline learns
(docs/detection.md has the figures). Only cold is corrected: coming in from a hot afternoon
gives no correction, because no published figure gives a heat excess and a false fever costs
the clinic a visit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

from thermogate.config import EngineSettings
from thermogate.contract import Site

MAX_COLD_CORRECTION_C: Final = 4.0
"""No correction is larger than this, however cold the feed says it is."""


def cold_corrections(
    settings: EngineSettings,
    site: Sequence[str],
    placement: Sequence[str],
    outdoor_c: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """Degrees to add to each row's calibrated value (0 where not an arrival or unknown)."""
    n = outdoor_c.shape[0]
    if n == 0 or not settings.cold_placements or np.isnan(outdoor_c).all():
        return np.zeros(n)
    gains = {
        Site.FOREHEAD.value: settings.cold_gain_forehead_per_c,
        Site.WRIST.value: settings.cold_gain_wrist_per_c,
    }
    arrival = {p.value for p in settings.cold_placements}
    gain = np.array(
        [gains.get(s, 0.0) if p in arrival else 0.0 for s, p in zip(site, placement, strict=True)],
        dtype=np.float64,
    )
    difference = np.maximum(0.0, settings.cold_indoor_c - np.nan_to_num(outdoor_c, nan=np.inf))
    return np.minimum(gain * difference, MAX_COLD_CORRECTION_C)
