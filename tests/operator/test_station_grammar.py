"""The station-loop grammar as a pure state machine: State + line → (Action, State)."""

from __future__ import annotations

import pytest

from mes.services.station_loop import State, on_scan, parse


def run(lines: list[str], state: State | None = None) -> tuple[list[tuple], State]:
    state = state or State()
    actions = []
    for line in lines:
        action, state = parse(state, line)
        actions.append((action.kind, action.arg, action.extra))
    return actions, state


@pytest.mark.parametrize("line", ["OP:40", "op:40", "op 40", "Op: 40", " OP:40\r", "OP:40 \r\n"])
def test_prefixes_are_case_insensitive_and_scanner_noise_is_ignored(line: str) -> None:
    action, state = parse(State(), line)
    assert (action.kind, action.arg, state.op) == ("op", "40", 40)


@pytest.mark.parametrize("line,kind", [("COMPLETE", "complete"), ("complete\r", "complete"),
                                       ("START", "start"), ("status", "status"),
                                       ("Help", "help"), ("QUIT", "quit"), ("", "noop"),
                                       ("  \r", "noop")])
def test_bare_words(line: str, kind: str) -> None:
    assert parse(State(), line)[0].kind == kind


def test_an_identifier_is_a_scan_upper_cased() -> None:
    for line in ("PB-000001", "pb-000001\r", "  L2611-0001 ", "SCAN:PB-000001", "scan pb-000001"):
        action, state = parse(State(), line)
        assert (action.kind, action.arg) == ("scan", line.strip().split(":")[-1].split()[-1]
                                             .upper()), line
        assert state == State()


def test_data_result_and_consume_are_queued_and_later_data_wins() -> None:
    actions, state = run(["DATA:peak_temp_c=243", "data tal_s = 62", "DATA:peak_temp_c=245",
                          "RESULT:PASS", "CONSUME:R-000012:2.5", "consume l2611-0002"])
    assert actions[0] == ("data", "peak_temp_c", "243")
    assert state.data == (("tal_s", "62"), ("peak_temp_c", "245"))
    assert state.result == "pass"
    assert state.consume == ("R-000012:2.5", "L2611-0002")
    assert parse(state, "result fail")[1].result == "fail"
    assert state.cleared() == State()


def test_op_auto_and_clear() -> None:
    _, state = run(["OP:40", "DATA:a=1"])
    assert state.op == 40
    assert parse(state, "OP:AUTO")[1].op is None
    assert parse(state, "OP:")[1].op is None
    assert parse(state, "CLEAR") == (parse(state, "CLEAR")[0], State())


@pytest.mark.parametrize("line,hint", [
    ("OP:forty", "a number"), ("DATA:peak", "<name>=<value>"), ("DATA:=3", "<name>=<value>"),
    ("RESULT:maybe", "RESULT:PASS"), ("LOAD:", "needs a value"), ("DATA", "needs a value"),
    ("COMPLETE now", "nothing after it"), ("hello world", "neither a command"),
    ("PB_0001", "neither a command"), ("CONSUME:R-1:x", "CONSUME:<id>"),
    ("LOAD:F/3", "LOAD:<slot>"),
])
def test_bad_lines_are_invalid_and_change_nothing(line: str, hint: str) -> None:
    state = State(item="PB-000001", op=40, data=(("a", "1"),))
    action, after = parse(state, line)
    assert action.kind == "invalid" and hint in (action.arg or ""), action
    assert after == state


@pytest.mark.parametrize("line", ["RELEASE R-000001", "hold L2611-0001", "SIGN", "ncr:open"])
def test_signed_actions_are_recognised(line: str) -> None:
    action, state = parse(State(), line)
    assert action.kind == "signed" and state == State()


def test_load_then_material_loads_and_a_material_alone_is_queued() -> None:
    action, state = parse(State(), "LOAD:f3")
    assert (action.kind, action.arg, action.extra, state.slot) == ("load", "F3", None, "F3")
    action, state = on_scan(state, "R-000012", "material")
    assert (action.kind, action.arg, action.extra, state.slot) == ("load", "F3", "R-000012", None)
    action, state = on_scan(state, "R-000012", "material")
    assert (action.kind, state.consume) == ("queue", ("R-000012",))
    assert on_scan(state, "R-000012", "material")[0].kind == "invalid"  # queued twice
    action, state = parse(State(), "load P1 r-000001")  # typed, one line
    assert (action.kind, action.arg, action.extra, state.slot) == ("load", "P1", "R-000001", None)


def test_a_new_unit_starts_a_new_queue_but_keeps_an_explicit_op() -> None:
    state = State(item="PB-000001", op=40, data=(("a", "1"),), result="pass", consume=("R-1",))
    action, new = on_scan(state, "PB-000002", "unit")
    assert (action.kind, action.arg, action.extra) == ("set_item", "PB-000002", "unit")
    assert new == State(item="PB-000002", op=40)


def test_a_unit_while_a_slot_waits_for_material_is_refused() -> None:
    state = State(slot="F3")
    action, after = on_scan(state, "PB-000001", "unit")
    assert action.kind == "invalid" and "F3" in (action.arg or "") and after == state
    assert on_scan(State(), "FW-OXI", "firmware")[0].kind == "invalid"
