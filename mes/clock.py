"""The one source of recorded time: the system clock, in UTC.

No flag or environment variable can change it (Part 11: no backdating). Tests
replace it through Python with `use_clock`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

_clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


def now() -> datetime:
    return _clock()


def now_iso() -> str:
    """UTC ISO-8601 with microseconds: sorts as text, portable across databases."""
    return now().astimezone(UTC).isoformat(timespec="microseconds")


def local_offset(zone: str) -> str:
    """The UTC offset of the IANA `zone` at the recorded now, as +HH:MM (Morocco is UTC+1,
    except during Ramadan). The site's zone, never the host's (issue 13)."""
    from zoneinfo import ZoneInfo

    off = now().astimezone(ZoneInfo(zone)).utcoffset()
    minutes = int(off.total_seconds() // 60) if off else 0
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


@contextmanager
def use_clock(fn: Callable[[], datetime]) -> Iterator[None]:
    global _clock
    old, _clock = _clock, fn
    try:
        yield
    finally:
        _clock = old
