"""Distinct values of a text column and each row's index into them, in one pass.

``np.unique`` on an object array sorts Python strings, which costs more than everything else
a batch does with its few distinct devices; a dict assigns codes in first-seen order in O(n).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

import numpy as np
import numpy.typing as npt

T = TypeVar("T", bound=Hashable)


def factorize(values: Sequence[T]) -> tuple[list[T], npt.NDArray[np.intp]]:
    """``(uniques, codes)`` with ``uniques[codes[i]] == values[i]``; uniques in first-seen order."""
    index: dict[T, int] = {}
    codes = np.fromiter(
        (index.setdefault(value, len(index)) for value in values), np.intp, len(values)
    )
    return list(index), codes
