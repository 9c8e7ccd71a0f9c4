"""Small helpers so messages read as English: articles and plurals."""

from __future__ import annotations


def a(word: str) -> str:
    """'a smt-pnp', 'an assembly': the word with the article it takes."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"


def plural(n: float, word: str, many: str | None = None) -> str:
    """'1 attempt', '3 attempts', '0 units'."""
    count = f"{n:g}" if isinstance(n, float) else str(n)
    return f"{count} {word if n == 1 else (many or word + 's')}"


def limits(lo: float | None, hi: float | None, unit: str = "") -> str:
    """'between 25 and 60 mm/s', 'at least 0', 'at most 5', '' (no limits): never '..none'."""
    u = f" {unit}" if unit else ""
    if lo is not None and hi is not None:
        return f"between {lo:g} and {hi:g}{u}"
    if lo is not None:
        return f"at least {lo:g}{u}"
    if hi is not None:
        return f"at most {hi:g}{u}"
    return ""
