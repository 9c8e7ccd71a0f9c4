"""Small helpers so messages read as English: articles and plurals."""

from __future__ import annotations


def a(word: str) -> str:
    """'a smt-pnp', 'an assembly': the word with the article it takes."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"


def plural(n: float, word: str, many: str | None = None) -> str:
    """'1 attempt', '3 attempts', '0 units'."""
    count = f"{n:g}" if isinstance(n, float) else str(n)
    return f"{count} {word if n == 1 else (many or word + 's')}"
