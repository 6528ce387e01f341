"""Patience with a catalogue that may still be saving what it was sent."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# A create whose answer was lost is looked for this many more times, this many
# seconds apart, before it is called missing: a server may still be saving it,
# and a create sent twice makes two resources.
SETTLE_LOOKS = 3
SETTLE_SECONDS = 1.0


def settle(look: Callable[[], T | None], patient: bool) -> T | None:
    """Look, and when `patient` (a create), look again after pauses before saying no."""
    found = look()
    for _ in range(SETTLE_LOOKS if patient else 0):
        if found is not None:
            break
        time.sleep(SETTLE_SECONDS)
        found = look()
    return found
