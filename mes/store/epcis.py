"""What the EPCIS export reads (issue 19): labelled units, the subassemblies built into
them, packings, shipments."""

from __future__ import annotations

from mes.store.base import Row, Store, in_chunks


def unit_labels(store: Store, lot_id: str | None) -> list[Row]:
    """Each unit's first label (its commissioning), with its lot and part."""
    sql = ("SELECT b.item_id AS serial, b.lot_id, b.element_string, b.printed_at, l.part "
           "FROM labels b JOIN units u ON u.serial = b.item_id JOIN lots l ON l.id = b.lot_id "
           "WHERE b.reprint = 0")
    params: list[str] = []
    if lot_id:
        sql += " AND b.lot_id = ?"
        params.append(lot_id)
    return store.all(sql + " ORDER BY b.id", params)


def packings(store: Store) -> list[Row]:
    return store.all("SELECT x.*, c.level FROM container_contents x JOIN containers c ON "
                     "c.sscc = x.sscc ORDER BY x.id")


def shipments(store: Store, lot_id: str | None) -> list[Row]:
    sql = "SELECT * FROM shipments"
    params: list[str] = []
    if lot_id:
        sql += " WHERE lot_id = ?"
        params.append(lot_id)
    return store.all(sql + " ORDER BY id", params)


def shipped_containers(store: Store) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for sid, sscc in store.tuples("SELECT shipment_id, sscc FROM shipment_containers "
                                  "ORDER BY sscc"):
        out.setdefault(int(sid), []).append(sscc)
    return out


def subassemblies(store: Store, parents: list[str]) -> list[Row]:
    """Serialized units consumed into these units (a PCBA into a device), with their part
    and when and at which step they went in."""
    out: list[Row] = []
    for chunk, marks in in_chunks(parents):
        out += store.all("SELECT e.parent, e.child, e.step_id, e.at, l.part FROM edges e "
                         "JOIN units u ON u.serial = e.child JOIN lots l ON l.id = u.lot_id "
                         f"WHERE e.parent IN ({marks}) ORDER BY e.id", chunk)
    return out
