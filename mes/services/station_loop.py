"""The station loop: one line per scan (or typed command), one answer per line (docs/STATION.md).

Two halves:

- `parse(state, line) -> (Action, State)` and `on_scan(state, item, kind) -> (Action, State)`:
  the grammar as a pure state machine (no I/O, no database), tested directly.
- `StationLoop.handle(line) -> Reply`: runs an action with the ordinary services and
  interlocks (steps, materials, lots) on one open database connection, so that a scan costs
  only its own transaction.

A line that is refused leaves the state as it was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from mes.domain.ids import ID_RE
from mes.domain.words import a, plural
from mes.errors import InvalidInput, NotAuthorised, NotFound, Refused
from mes.services.context import Actor, Context

# -- the grammar (pure) ------------------------------------------------------------------------

# Keyword → does it take an argument? Prefix form `KEY:ARG` (scanner) or `key arg` (typed).
KEYWORDS: dict[str, bool] = {
    "OP": True, "DATA": True, "RESULT": True, "LOAD": True, "CONSUME": True, "SCAN": True,
    "COMPLETE": False, "START": False, "CLEAR": False, "STATUS": False, "HELP": False,
    "QUIT": False, "EXIT": False, "WI": False,
}
# Signed or quality actions: never at the station loop (Part 11: the signer re-enters the
# password in quality's own command).
SIGNED = {"RELEASE", "REJECT", "HOLD", "UNHOLD", "APPROVE", "SIGN", "NCR", "SHIP", "DISPOSITION"}
RESULTS = {"PASS": "pass", "OK": "pass", "FAIL": "fail", "NOK": "fail"}
_HEAD = re.compile(r"([A-Za-z]+)\s*(?::\s*|\s+|$)(.*)", re.S)
_QTY = re.compile(r"[0-9]+(\.[0-9]+)?")

HELP_LINES = (
    "<unit or lot>        scan a serial or lot: it becomes the current item",
    "<material>           scan a material lot: queued for consumption at COMPLETE",
    "LOAD:<slot> [<mat>]  then scan the material: it is loaded on this station's slot",
    "CONSUME:<id>[:qty]   queue any lot, unit or material for consumption",
    "OP:<n> | OP:AUTO     set the operation (default: the next one due at this station)",
    "DATA:<name>=<value>  queue a measured value",
    "RESULT:PASS|FAIL     queue the result",
    "COMPLETE             record the step with the queue, then clear the queue",
    "START                start the operation (complete it later)",
    "CLEAR                forget item, op and queue",
    "STATUS | HELP        show the state | this help",
    "WI                   the work instruction of the current op: its file, hash checked",
    "Ctrl-D (end of input) or QUIT ends the loop; typed lower case works too",
)


@dataclass(frozen=True)
class State:
    """What the loop remembers between lines."""

    item: str | None = None  # current unit serial or lot id
    op: int | None = None  # set by OP:; None = the next op due at this station
    data: tuple[tuple[str, str], ...] = ()
    result: str | None = None
    consume: tuple[str, ...] = ()
    slot: str | None = None  # LOAD:<slot> waiting for its material

    @property
    def queue_empty(self) -> bool:
        return not (self.data or self.result or self.consume or self.slot)

    def cleared(self) -> State:
        """After COMPLETE: the queue goes, the item and an explicit op stay."""
        return replace(self, data=(), result=None, consume=(), slot=None)


@dataclass(frozen=True)
class Action:
    """What a line asks for. `kind` is one of ACTIONS; `arg` its argument."""

    kind: str
    arg: str | None = None
    extra: str | None = None


ACTIONS = ("noop", "scan", "set_item", "queue", "load", "op", "data", "result", "complete",
           "start", "clear", "status", "help", "quit", "signed", "invalid", "wi")


def parse(state: State, line: str) -> tuple[Action, State]:
    """One line → (Action, new State). Never raises: bad input is Action('invalid', message)."""
    text = line.replace("\x00", "").strip()
    if not text:
        return Action("noop"), state
    m = _HEAD.fullmatch(text)
    head = m.group(1).upper() if m else ""
    arg = m.group(2).strip() if m else ""
    if head in SIGNED:
        return Action("signed", head.lower()), state
    if head not in KEYWORDS or (not KEYWORDS[head] and arg):
        # not a command: an identifier as scanned (a serial, a lot, a material)
        item = text.upper()
        if head in KEYWORDS:
            return Action("invalid", f"{head} takes nothing after it: scan {head} alone"), state
        if not ID_RE.fullmatch(item):
            return Action("invalid", f"{text!r} is neither a command nor an identifier: "
                                     "scan HELP for the barcodes"), state
        return Action("scan", item), state
    if KEYWORDS[head] and not arg and head not in ("OP",):
        return Action("invalid", f"{head} needs a value, e.g. {_example(head)}"), state
    return _command(state, head, arg)


def _example(head: str) -> str:
    return {"DATA": "DATA:peak_temp_c=243", "RESULT": "RESULT:PASS", "LOAD": "LOAD:F3",
            "CONSUME": "CONSUME:R-000012", "SCAN": "SCAN:PB-000001", "OP": "OP:40"}[head]


def _command(state: State, head: str, arg: str) -> tuple[Action, State]:
    if head == "OP":
        if not arg or arg.upper() == "AUTO":
            return Action("op", None), replace(state, op=None)
        if not arg.isdigit() or len(arg) > 6:
            return Action("invalid", f"OP:{arg}: an operation is a number, e.g. OP:40"), state
        return Action("op", arg), replace(state, op=int(arg))
    if head == "DATA":
        name, sep, value = arg.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            return Action("invalid", f"DATA:{arg}: write DATA:<name>=<value>"), state
        data = (*((k, v) for k, v in state.data if k != name), (name, value))
        return Action("data", name, value), replace(state, data=data)
    if head == "RESULT":
        result = RESULTS.get(arg.upper())
        if result is None:
            return Action("invalid", f"RESULT:{arg}: scan RESULT:PASS or RESULT:FAIL"), state
        return Action("result", result), replace(state, result=result)
    if head == "LOAD":
        slot, _, material = arg.partition(" ")
        slot, material = slot.strip().upper(), material.strip().upper()
        if not ID_RE.fullmatch(slot) or (material and not ID_RE.fullmatch(material)):
            return Action("invalid", f"LOAD:{arg}: write LOAD:<slot>, then scan the material"
                          ), state
        if material:
            return Action("load", slot, material), replace(state, slot=None)
        return Action("load", slot), replace(state, slot=slot)
    if head == "CONSUME":
        item, _, qty = arg.upper().partition(":")
        if not ID_RE.fullmatch(item) or (qty and not _QTY.fullmatch(qty)):
            return Action("invalid", f"CONSUME:{arg}: write CONSUME:<id> or CONSUME:<id>:<qty>"
                          ), state
        entry = f"{item}:{qty}" if qty else item
        return Action("queue", entry), replace(state, consume=(*state.consume, entry))
    if head == "SCAN":
        item = arg.upper()
        if not ID_RE.fullmatch(item):
            return Action("invalid", f"SCAN:{arg}: not an identifier"), state
        return Action("scan", item), state
    if head == "CLEAR":
        return Action("clear"), State()
    if head in ("QUIT", "EXIT"):
        return Action("quit"), state
    return Action(head.lower()), state  # COMPLETE, START, STATUS, HELP


def on_scan(state: State, item: str, kind: str) -> tuple[Action, State]:
    """A bare identifier once the database said what it is: lot/unit/material/firmware."""
    if kind == "material":
        if state.slot is not None:
            return Action("load", state.slot, item), replace(state, slot=None)
        if item in state.consume:
            return Action("invalid", f"{item} is already queued"), state
        return Action("queue", item), replace(state, consume=(*state.consume, item))
    if kind in ("lot", "unit"):
        if state.slot is not None:
            return Action("invalid", f"slot {state.slot} waits for a material lot, not the "
                                     f"{kind} {item}: scan the reel (or CLEAR)"), state
        # a new item: the queue belonged to the previous one
        return Action("set_item", item, kind), replace(State(op=state.op), item=item)
    return Action("invalid", f"{item} is a {kind}: scan a unit, a lot or a material lot"), state


# -- the executor (database, services) -------------------------------------------------------

@dataclass
class Reply:
    status: str  # OK | FAIL (recorded, item put on hold) | QUIT
    text: str

    def __str__(self) -> str:
        return f"{self.status} {self.text}" if self.text else self.status


# Option names in the services' messages, as the station loop spells them.
_WORDS = (("add --data ", "scan DATA:"), ("--data ", "DATA:"),
          ("add --result pass|fail", "scan RESULT:PASS or RESULT:FAIL"),
          ("--result pass|fail", "RESULT:PASS or RESULT:FAIL"),
          ("--consume", "a material scan"), ("--result", "RESULT:"))


def station_words(message: str) -> str:
    for old, new in _WORDS:
        message = message.replace(old, new)
    return message


@dataclass
class StationLoop:
    """One station, one user, one open connection; `handle` answers one line."""

    ctx: Context
    station: str
    state: State = field(default_factory=State)
    station_type: str = ""
    actor: Actor | None = None
    _session: bool = False
    # (item, op asked for, operation) found when the item was scanned, reused until the
    # next scan: the services re-check the operation inside their write transaction.
    _scanned_op: tuple[str, int | None, Any] | None = None

    def begin(self) -> Actor:
        """Authenticate once (password read once), check the station; before any scan."""
        from mes.services.auth import current_actor
        from mes.services.stations import get_station

        self._session = self.ctx.user is None
        row = get_station(self.ctx, self.station)
        if not row["active"]:
            raise Refused(f"station {self.station} is inactive: ask a technician")
        self.station_type = row["type"]
        self.actor = current_actor(self.ctx)
        if self._session and self.ctx.station not in (None, self.station):
            raise NotAuthorised(f"the session is for station {self.ctx.station}: run "
                                f"`mes login {self.actor.username} --station {self.station}`")
        self.ctx.station = self.station
        self._check_can_work(row)
        # the services for every scan, imported now rather than at the first scan
        import mes.services.materials
        import mes.services.steps  # noqa: F401
        return self.actor

    def _check_can_work(self, station: dict[str, Any]) -> None:
        """At start, not at the first COMPLETE: the role, the qualification for this station
        type and the station's calibration (each refusal says what to do)."""
        from mes import clock
        from mes.services.auth import require, require_qualified

        actor = require(self.ctx, "step.record")
        require_qualified(self.ctx, actor, self.station_type)
        due = station.get("calibration_due")
        if due and due < clock.now().date().isoformat():
            raise Refused(f"station {self.station} calibration expired on {due}: ask a "
                          "technician to calibrate it before recording steps here")

    def _still_authorised(self) -> None:
        """Each line: the session may have ended (logout, 8 h) or the user been locked."""
        from mes.services.auth import current_actor

        if self._session:
            self.ctx._actor = None
            self.ctx.station = None
            try:
                current_actor(self.ctx)
            finally:
                self.ctx.station = self.station
            return
        assert self.actor is not None
        user = self.ctx.store.get("users", self.actor.username)
        if user is None or not user["active"] or user["locked"]:
            raise NotAuthorised(f"user {self.actor.username} can no longer act: ask an admin")

    def handle(self, line: str) -> Reply | None:
        """Answer one line; MesError means refused (and the state is unchanged)."""
        line = self._gs1_material(line)
        action, state = parse(self.state, line)
        if action.kind == "noop":
            return None
        if action.kind == "quit":
            return Reply("QUIT", "")
        if action.kind == "help":
            return Reply("OK", "barcodes and commands:\n  " + "\n  ".join(HELP_LINES))
        if action.kind == "invalid":
            raise InvalidInput(action.arg or "not understood")
        if action.kind == "signed":
            raise Refused(f"{action.arg.upper() if action.arg else 'that'} is a signed "
                          "quality action, not done at the station loop: quality uses its own "
                          "`mes` command and re-enters the password to sign")
        if action.kind == "status":
            return Reply("OK", self.status())
        if action.kind == "clear":
            self.state = state
            return Reply("OK", "cleared: scan a unit or a lot")
        if action.kind not in ("data", "result"):  # those two only change this loop's state
            self._still_authorised()
        if action.kind == "scan":
            assert action.arg is not None
            from mes.services.lots import resolve

            kind, row = resolve(self.ctx.store, action.arg)
            action, state = on_scan(self.state, action.arg, kind)
            if action.kind == "invalid":
                raise InvalidInput(action.arg or "not understood")
            if action.kind == "set_item":
                text = self._take_item(state, kind, row)
                self.state = state
                return Reply("OK", text)
            if row.get("on_hold") or row.get("status") != "released":
                raise Refused(f"material {row['id']} is {row['status']}"
                              f"{' and on hold' if row.get('on_hold') else ''}: only released "
                              "material can be used: put it aside")
        reply = self._run(action, state)
        return reply

    def _gs1_material(self, line: str) -> str:
        """A GS1 label (]d2…, ]C1…, HRI) stands for what it names: a supplier's label for
        the material lot recorded at its receipt, our own label for its unit or lot."""
        from mes.domain.gs1 import looks_like_gs1

        if not looks_like_gs1(line):
            return line
        from mes.services.materials import item_for_scan

        self._still_authorised()
        return item_for_scan(self.ctx, line)

    def _run(self, action: Action, state: State) -> Reply:
        if action.kind == "load" and action.extra is not None:
            from mes.services.materials import load_on_station

            # a scan at the feeder is the operator changing the reel: replace, and say so
            out = load_on_station(self.ctx, self.station, action.extra, action.arg or "",
                                  replace=True)
            self.state = state
            took = f", replacing {out['replaced']}" if out["replaced"] else ""
            return Reply("OK", f"{out['material']} ({out['part']}) loaded on {out['station']} "
                               f"slot {out['slot']}{took}")
        if action.kind == "load":
            self.state = state
            return Reply("OK", f"slot {action.arg}: now scan the material lot to load")
        if action.kind == "queue":
            self.state = state
            return Reply("OK", f"{action.arg} queued for consumption ({len(state.consume)} "
                               "queued)")
        if action.kind == "op":
            wi = ""
            if state.op is not None and self.state.item is not None:
                op = self._operation(self.state.item, state.op)  # NotFound if none
                self._check_order(self.state.item, op)
                wi = self._instruction(self._holders(self.state.item)[0], op)
            self.state = state
            due = "" if state.op is not None else ": the next op due"
            return Reply("OK", f"op {state.op if state.op is not None else 'AUTO'}{due}{wi}")
        if action.kind == "data":
            self._check_value(state, action.arg or "", action.extra or "")
            self.state = state
            return Reply("OK", f"{action.arg}={action.extra}{self._missing(state)}")
        if action.kind == "result":
            self.state = state
            return Reply("OK", f"result {action.arg}{self._missing(state)}")
        if action.kind == "wi":
            return Reply("OK", self._instruction_file())
        if action.kind == "start":
            return self._start()
        if action.kind == "complete":
            return self._complete()
        raise InvalidInput(f"not understood: {action.kind}")  # pragma: no cover

    # -- items and operations --------------------------------------------------------------

    def _take_item(self, state: State, kind: str, row: dict[str, Any]) -> str:
        from mes.domain.interlocks import check_workable

        store = self.ctx.store
        lot = row if kind == "lot" else store.get("lots", row["lot_id"]) or {}
        check_workable("lot", lot["id"], lot["status"], bool(lot["on_hold"]), lot["hold_reason"])
        if kind == "unit":
            check_workable("unit", row["serial"], row["status"], bool(row["on_hold"]),
                           row["hold_reason"])
        item = row["id"] if kind == "lot" else row["serial"]
        what = f"lot {item}" if kind == "lot" else f"{item} (lot {lot['id']})"
        op = self._operation(item, state.op) if state.op is not None else self._next_op(item)
        self._check_order(item, op)
        self._scanned_op = (item, state.op, op)
        return f"{what} {lot['part']}: op {op.op} {op.name}{self._instruction(lot, op)}"

    def _instruction_file(self) -> str:
        """WI: where the instruction in force for the current op is, once its stored copy
        is checked against its sha256 (a changed file is refused, exit 7)."""
        from mes.services.instructions import get_revision, in_force, stored_file, verify_file

        op = self._current_op()
        assert self.state.item is not None
        lot = self._holders(self.state.item)[0]
        wi = in_force(self.ctx.store, lot["part"], op.op)
        if wi is None:
            return f"op {op.op} ({op.name}) has no work instruction in force"
        row = get_revision(self.ctx.store, wi.doc, wi.revision)
        verify_file(self.ctx, row)
        return (f"{wi.doc} rev {wi.revision} ({row['title']}): {stored_file(self.ctx, row)} "
                f"(sha256 {row['sha256'][:12]}… checked)")

    def _instruction(self, lot: dict[str, Any], op: Any) -> str:
        """The work instruction in force for the op (issue 18), checked against the
        operator's training at the scan; the step checks it again in its transaction."""
        from mes.services.training import check_at_op

        assert self.actor is not None
        wi = check_at_op(self.ctx.store, self.actor.username, lot["part"], op)
        if wi is None:
            return ""
        note = f" ({wi['note']})" if wi["note"] else ""
        return f"; instruction {wi['doc']} rev {wi['revision']}{note}"

    def _operation(self, item: str, op_no: int) -> Any:
        from mes.services.steps import load_target

        return load_target(self.ctx.store, item, op_no).op

    def _holders(self, item: str) -> tuple[dict[str, Any], list[dict[str, Any] | None]]:
        """The item's lot and what records steps: its unit, the lot's units in process, or
        the lot itself (None) when it is not serialized."""
        from mes.services.lots import resolve

        store = self.ctx.store
        kind, row = resolve(store, item)
        lot = row if kind == "lot" else store.get("lots", row["lot_id"]) or {}
        if kind == "unit":
            return lot, [row]
        if lot["serialized"]:
            return lot, [u for u in store.find("units", {"lot_id": lot["id"]})
                         if u["status"] not in ("scrapped", "consumed")] or [None]
        return lot, [None]

    def _check_order(self, item: str, op: Any) -> None:
        """At the scan: an op this item may not do yet (or has passed), or not at this
        station, is refused now rather than at COMPLETE."""
        from mes import clock
        from mes.domain.interlocks import check_order, check_station
        from mes.services.routings import routing_version
        from mes.services.steps import passed_ops

        store = self.ctx.store
        check_station(store.get("stations", self.station), self.station, op,
                      clock.now().date())
        lot, holders = self._holders(item)
        routing = routing_version(store, lot["part"], lot["routing_version"])
        for u in holders:
            check_order(routing, op, passed_ops(store, lot, u), u["serial"] if u else lot["id"])

    def _check_value(self, state: State, name: str, raw: str) -> None:
        """A DATA: line is checked against the op as soon as the item and op are known."""
        if state.item is None:
            return
        from mes.domain.interlocks import check_value

        check_value(self._current_op(), name, raw)

    def _next_op(self, item: str) -> Any:
        """The first op at this station's type not yet passed by the item (all its units)."""
        from mes.services.routings import routing_version
        from mes.services.steps import passed_ops

        store = self.ctx.store
        lot, holders = self._holders(item)
        routing = routing_version(store, lot["part"], lot["routing_version"])
        passed = set.intersection(*[passed_ops(store, lot, u) for u in holders])
        for op in routing.operations:
            if op.station_type == self.station_type and op.op not in passed:
                return op
        todo = [o for o in routing.operations if o.op not in passed and not o.optional]
        nxt = f": its next op is {todo[0].op} {todo[0].name} at {a(todo[0].station_type)} " \
              "station" if todo else ": its routing is complete"
        raise Refused(f"{item} has no op left for {self.station} ({self.station_type}){nxt}")

    def _current_op(self) -> Any:
        if self.state.item is None:
            raise Refused("scan a unit or a lot first")
        scanned = self._scanned_op
        if scanned is not None and scanned[:2] == (self.state.item, self.state.op):
            # found at the scan; start/complete check it again inside their transaction
            return scanned[2]
        if self.state.op is not None:
            return self._operation(self.state.item, self.state.op)
        return self._next_op(self.state.item)

    def _missing(self, state: State) -> str:
        """What the op still needs, when the item and op are known (a hint, never a refusal)."""
        if state.item is None:
            return ""
        try:
            op = self._current_op()
        except (NotFound, Refused):
            return ""
        have = {k for k, _ in state.data}
        need = [d.name for d in op.data if d.required and d.name not in have]
        if op.result_required and state.result is None:
            need.append("RESULT")
        return f"; op {op.op} still needs {', '.join(need)}" if need else \
            f"; op {op.op} ready: scan COMPLETE"

    def _start(self) -> Reply:
        from mes.services.steps import start_step

        op = self._current_op()
        assert self.state.item is not None
        out = start_step(self.ctx, self.state.item, op.op, self.station)
        items = ", ".join(out["started"][:5]) + (f" +{len(out['started']) - 5}"
                                                  if len(out["started"]) > 5 else "")
        return Reply("OK", f"started op {out['op']} ({out['name']}) on {items}")

    def _complete(self) -> Reply:
        from mes.services.steps import StepRequest, complete_step

        op = self._current_op()
        s = self.state
        assert s.item is not None
        if s.slot is not None:
            raise Refused(f"slot {s.slot} waits for its material: scan it (or CLEAR) first")
        req = StepRequest(scan=s.item, op=op.op, station=self.station, data=dict(s.data),
                          result=s.result, consume=list(s.consume))
        out = complete_step(self.ctx, req)
        self.state = s.cleared()
        self._scanned_op = None  # passed: the item's next op is another one
        items = ", ".join(out["items"][:5]) + (f" +{len(out['items']) - 5}"
                                                if len(out["items"]) > 5 else "")
        used = f"; consumed {len(out['consumed'])}" if out["consumed"] else ""
        if out["status"] == "failed":
            return Reply("FAIL", f"op {out['op']} ({out['name']}) on {items}: "
                                 f"{'; '.join(out['problems'])} — put on hold: call quality")
        done = f"; routing complete for {self._complete_words(out['completed'])}" \
            if out["completed"] else ""
        return Reply("OK", f"op {out['op']} ({out['name']}) passed on {items}{used}{done}")

    @staticmethod
    def _complete_words(items: list[str]) -> str:
        """'PB-000001' or 'L2611-0001' (the item), '900 units': not 'complete for 1'."""
        return items[0] if len(items) == 1 else plural(len(items), "unit")

    def status(self) -> str:
        s = self.state
        who = self.actor.username if self.actor else "?"
        op = f"op {s.op}" if s.op is not None else "op AUTO"
        data = " ".join(f"{k}={v}" for k, v in s.data) or "-"
        parts = [f"{self.station} ({self.station_type}) {who}", f"item {s.item or '-'}", op,
                 f"data {data}", f"result {s.result or '-'}",
                 f"consume {' '.join(s.consume) or '-'}"]
        if s.slot:
            parts.append(f"LOAD slot {s.slot} waiting for a material")
        return "; ".join(parts)
