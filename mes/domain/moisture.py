"""Moisture-sensitive devices (IPC/JEDEC J-STD-033): floor life by MSL, exposure clock.

Floor life out of the dry pack at <= 30 °C / 60 % RH, J-STD-033 Table 7-1 (as tabulated,
e.g., at https://en.cosel.co.jp/technical/qanda/a0073.html): MSL 1 unlimited (at
<= 30 °C / 85 % RH), 2 one year, 2a four weeks, 3 168 h, 4 72 h, 5 48 h, 5a 24 h, 6
mandatory bake before use (time on label: not supported here, refused at the catalog).

The clock runs while the dry pack is open; it pauses in dry storage or when the reel is
resealed with fresh desiccant, and a bake resets it (J-STD-033 §4, §8). Pausing on reseal
is this plant's simplification: the standard allows it for short exposures only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

FLOOR_LIFE_HOURS: dict[str, float | None] = {
    "1": None, "2": 365 * 24.0, "2a": 4 * 7 * 24.0, "3": 168.0, "4": 72.0, "5": 48.0,
    "5a": 24.0,
}
MSL_LEVELS = tuple(FLOOR_LIFE_HOURS)
EVENTS = ("open", "seal", "dry", "bake")


@dataclass(frozen=True)
class Exposure:
    state: str  # "sealed" (never opened, or baked), "open", "resealed", "dry storage"
    hours: float  # exposed since the last bake
    floor_life: float | None  # hours; None = unlimited

    @property
    def remaining(self) -> float | None:
        return None if self.floor_life is None else self.floor_life - self.hours

    @property
    def expired(self) -> bool:
        return self.remaining is not None and self.remaining < 0


def exposure(msl: str, events: Iterable[tuple[str, str]], at: datetime) -> Exposure:
    """Exposure at `at` from (ISO time, event) pairs in order; events after `at` ignored."""
    state, hours, opened = "sealed", 0.0, None
    for when_iso, event in events:
        when = datetime.fromisoformat(when_iso)
        if when > at:
            break
        if opened is not None and event != "open":
            hours += (when - opened).total_seconds() / 3600
            opened = None
        if event == "open":
            opened = opened or when
            state = "open"
        elif event == "bake":
            state, hours = "sealed", 0.0
        else:
            state = "resealed" if event == "seal" else "dry storage"
    if opened is not None:
        hours += max(0.0, (at - opened).total_seconds() / 3600)
    return Exposure(state, hours, FLOOR_LIFE_HOURS[msl])


def allowed_next(state: str, event: str) -> str | None:
    """Why `event` cannot follow `state`, or None."""
    if event == "open" and state == "open":
        return "its dry pack is already open"
    if event in ("seal", "dry") and state != "open":
        return f"it is not open ({state})"
    return None
