"""mes firmware register|approve|list, mes flash, mes molding import, mes cfx import."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mes.cli.common import context, emit_json, listing, note, progress, say
from mes.domain.words import plural

firmware_app = typer.Typer(help="Firmware image registry (technician registers, quality "
                           "approves).", no_args_is_help=True)
molding_app = typer.Typer(help="Injection molding: EUROMAP 63 shot reports.",
                          no_args_is_help=True)
cfx_app = typer.Typer(help="IPC-CFX machine messages (PCB assembly).", no_args_is_help=True)

Json = Annotated[bool, typer.Option("--json", help="print the result as JSON")]


def register(app: typer.Typer) -> None:
    app.add_typer(firmware_app, name="firmware")
    app.command("flash")(flash)
    app.add_typer(molding_app, name="molding")
    app.add_typer(cfx_app, name="cfx")


# -- firmware ----------------------------------------------------------------------------------

@firmware_app.command("register")
def fw_register(tctx: typer.Context, file: Path,
                part: Annotated[str, typer.Option(help="firmware part number, e.g. FW-OXI")],
                version: Annotated[str, typer.Option(help="version, e.g. 1.4.2")],
                json_: Json = False) -> None:
    """Register a firmware image: a read-only copy is kept in the workspace with its sha256."""
    from mes.services.firmware import register as do_register

    row = do_register(context(tctx), file, part, version)
    if json_:
        emit_json(row)
    else:
        say(f"OK {row['id']} registered: sha256 {row['sha256']}, {row['size']} bytes; "
            "awaiting quality approval")


@firmware_app.command("approve")
def fw_approve(tctx: typer.Context, part: str,
               version: Annotated[str, typer.Option(help="version to approve")]) -> None:
    """Approve a registered image for flashing (quality; signed)."""
    from mes.services.firmware import approve

    row = approve(context(tctx), part, version)
    say(f"{row['id']} approved (sha256 {row['sha256'][:12]}…), signed by "
        f"{row['signature']['full_name']}")


@firmware_app.command("list")
def fw_list(tctx: typer.Context, json_: Json = False,
            csv_: Annotated[bool, typer.Option("--csv")] = False) -> None:
    """List firmware images, their approval and whether the stored file still matches."""
    from mes.services.firmware import list_images

    listing(list_images(context(tctx)),
            ["id", "status", "sha256", "size", "file_ok", "registered_by", "registered_at",
             "approved_at"], as_json=json_, as_csv=csv_)


# -- flash -------------------------------------------------------------------------------------

def _timeout(value: float) -> float:
    from mes.services.firmware import MAX_TIMEOUT_S

    if not 0 < value <= MAX_TIMEOUT_S:  # false for nan too
        raise typer.BadParameter(f"{value:g}: give the seconds the programmer may take, more "
                                 f"than 0 and at most {MAX_TIMEOUT_S:g}")
    return value


def flash(
    tctx: typer.Context,
    serial: Annotated[str, typer.Argument(help="unit serial")],
    command: Annotated[list[str] | None, typer.Argument(
        help="after --: the programmer command; {image} {serial} {mcu_uid} are replaced",
        show_default=False)] = None,
    station: Annotated[str, typer.Option(help="flash station id")] = "",
    image: Annotated[str, typer.Option(help="PART@VERSION, e.g. FW-OXI@1.4.2")] = "",
    op: Annotated[int | None, typer.Option(help="flash op (default: the routing's)")] = None,
    mcu_uid: Annotated[str | None, typer.Option(help="MCU unique id, hex")] = None,
    verify: Annotated[str | None, typer.Option(help="pass | fail (typed form)")] = None,
    timeout: Annotated[float, typer.Option(
        help="programmer timeout, seconds (more than 0, at most 3600); on timeout the "
             "programmer and its child processes are killed", callback=_timeout)] = 300.0,
    json_: Json = False,
) -> None:
    """Flash firmware on a unit: type the result, or wrap the programmer after `--`.

    A wrapped programmer passes when it exits 0 and prints a line MCU_UID=<hex> (or
    MCU_UID: <hex>) with the MCU unique id: 1-32 hex digits, with or without 0x, upper or
    lower case (MCU_UID=0x3A1F00C2, MCU_UID: 3a1f00c2). The last such line counts and
    must match --mcu-uid when both are given. Anything else fails the step (the unit goes
    on hold) with the reason. The full output is kept in firmware/logs/ under its sha256;
    what is shown has its control bytes removed."""
    from mes.errors import InvalidInput
    from mes.services.firmware import FlashRequest
    from mes.services.firmware import flash as do_flash

    if not station or not image:
        raise InvalidInput("give --station and --image PART@VERSION")
    out = do_flash(context(tctx), FlashRequest(
        serial=serial, station=station.upper(), image=image, op=op, mcu_uid=mcu_uid,
        verify=verify, command=command or [], timeout_s=timeout))
    if json_:
        emit_json(out)
    elif out["status"] == "passed":
        say(f"OK {out['serial']} flashed {out['image']} (attempt {out['attempt']}, MCU "
            f"{out['mcu_uid']})")
    else:
        if out["output_tail"]:
            note(out["output_tail"].rstrip()[-800:])
        say(f"FAIL {out['serial']} flash {out['image']} attempt {out['attempt']}: "
            f"{'; '.join(out['problems'])} — put on hold: call quality")


# -- molding -----------------------------------------------------------------------------------

@molding_app.command("import")
def molding_import(
    tctx: typer.Context,
    lot: str,
    station: Annotated[str, typer.Option(help="injection molding machine station id")],
    report: Annotated[Path, typer.Option(help="EUROMAP 63 REPORTS.DAT")],
    mold: Annotated[str | None, typer.Option(help="mold id mounted, checked")] = None,
    op: Annotated[int | None, typer.Option(help="molding op (default: the routing's)")]
    = None,
    consume: Annotated[list[str] | None, typer.Option(help="ID[:QTY], repeatable")] = None,
    json_: Json = False,
) -> None:
    """Import a shot report onto a lot: per-shot window check, rejects, the molding step."""
    from mes.services.molding import MoldingImport, import_report

    req = MoldingImport(lot=lot.strip().upper(), station=station.upper(), report=report,
                        op=op, mold=mold, consume=consume or [])
    with progress(report.name) as on_progress:
        out = import_report(context(tctx), req, on_progress)
    if json_:
        emit_json(out)
        return
    say(f"{'OK' if out['status'] == 'passed' else 'FAIL'} lot {out['lot']} op {out['op']} "
        f"({out['name']}): {plural(out['shots'], 'shot')}, {out['good_shots']} good, "
        f"{out['bad_shots']} bad → {plural(out['parts_good'], 'part')} good, "
        f"{out['parts_rejected']} rejected ({out['reject_rate_pct']:g}%)")
    if out["held"]:
        say(f"lot {out['lot']} put on hold: reject rate above "
            f"{out['hold_reject_rate_pct']:g}% — open an NCR")


@molding_app.command("shots")
def molding_shots(
    tctx: typer.Context, lot: str,
    bad: Annotated[bool, typer.Option("--bad", help="only shots outside the window")] = False,
    json_: Json = False, csv_: Annotated[bool, typer.Option("--csv")] = False,
) -> None:
    """A molded lot's shots: report row, machine cycle counter, values, what was outside."""
    from mes.services.molding import list_shots

    rows = list_shots(context(tctx), lot, bad)
    values = list(dict.fromkeys(k for r in rows for k in r if k not in _SHOT_COLUMNS))
    listing(rows, [*_SHOT_COLUMNS, *values], as_json=json_, as_csv=csv_)


_SHOT_COLUMNS = ["report_row", "cycle", "ok", "problems"]


# -- cfx ---------------------------------------------------------------------------------------

@cfx_app.command("import")
def cfx_import(
    tctx: typer.Context,
    files: list[Path],
    station: Annotated[str, typer.Option(help="station that sent the messages")],
    op: Annotated[int | None, typer.Option(help="operation (default: from the station type "
                                           "or the material's BOM line)")] = None,
    map_: Annotated[list[str] | None, typer.Option(
        "--map", help="CFX_NAME=SPEC: feed a reading to a data spec, repeatable")] = None,
    json_: Json = False,
) -> None:
    """Import CFX messages; stops at the first refused message (earlier ones stay applied)."""
    from mes.services.cfx import CfxImport, import_files, parse_mapping

    rep = import_files(context(tctx), CfxImport(files=files, station=station.upper(), op=op,
                                                mapping=parse_mapping(map_ or [])))
    if json_:
        emit_json(rep.as_dict())
    else:
        for a in rep.applied:
            what = f"{a.get('installs')} installs" if "installs" in a else (
                f"op {a.get('op')}" + (f", FAILED {', '.join(a['failed'])}"
                                       if a.get("failed") else ""))
            say(f"applied {a['name'].rsplit('.', 1)[-1]} {a['unique_id']}: {what} on "
                f"{', '.join(a['units'])}")
        if rep.error is None:  # a refusal is one line: it counts the skipped messages
            for s in rep.skipped:
                note(f"skipped {s['unique_id']}: {s['note']}")
    if rep.error is not None:
        raise rep.error
