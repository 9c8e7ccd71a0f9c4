"""Users and their sessions (issue 15: the SQL the services used)."""

from __future__ import annotations

from mes.store.base import Store


def count_failed_login(store: Store, username: str) -> int:
    """Add one failed login to a user, in SQL (two stations failing at once both count);
    returns the new count. The caller holds the transaction and touches the row image."""
    return int(store.scalar("UPDATE users SET failed_logins = failed_logins + 1 "
                            "WHERE username = ? RETURNING failed_logins", (username,)))


def end_sessions(store: Store, username: str, at: str) -> int:
    """End every open session of a user at `at`; returns how many were open."""
    return store.exec("UPDATE sessions SET ended_at = ? WHERE username = ? AND ended_at IS NULL",
                      (at, username))
