"""Worker processes for the concurrency tests (importable by spawned children)."""

from __future__ import annotations

from typing import Any


def append_events(url: str, worker: int, events: int, barrier: Any) -> None:
    """Open a store and append `events` audit events, each in its own write transaction,
    with a counter drawn after it in the same transaction (first use of the counter races too)."""
    from mes.store.postgres import PostgresStore

    store = PostgresStore(url)
    try:
        barrier.wait(timeout=60)
        for i in range(events):
            with store.transaction() as tx:
                # the chain head is read first: the counter's row lock must not be what
                # serialises the appends
                tx.append_audit(username="amina", station=f"W{worker}", action="test.append",
                                entity_type="worker", entity_id=f"W{worker}", new={"i": i})
                tx.next_counter("concurrency")
    finally:
        store.close()
