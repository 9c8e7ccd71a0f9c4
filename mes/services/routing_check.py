"""The one checker of routing and catalog files: `routing validate` and `routing load` both
call `check_files`, so validate reports everything load would refuse (issue 12).

Beyond each file's own syntax and schema (mes.ingest.routing_yaml), it checks the files
against each other and against the workspace, when there is one: every referenced part is
in the catalog (the files' and the database's), every station type has a registered
station (once any station is registered), a device routing has an origin-conferring
operation, and a device's name fits its default label templates.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mes.domain.model import NON_CONFERRING_ACTIVITIES, Part, Routing, part_from_dict
from mes.errors import Problem, ValidationFailed
from mes.store.base import Store

if TYPE_CHECKING:
    from mes.ingest.routing_yaml import LoadedFile

# The templates a device's labels are printed on unless a job names another.
DEVICE_TEMPLATES = ("udi-100x50", "shipper-100x150")


def check_files(paths: list[Path], store: Store | None, template_dirs: list[Path]
                ) -> list[tuple[Path, LoadedFile]]:
    """Every problem of every file at once (ValidationFailed), else the checked files."""
    import json

    from mes.ingest.routing_yaml import load_file

    loaded: list[tuple[Path, LoadedFile]] = []
    problems: list[Problem] = []
    for path in paths:
        try:
            loaded.append((path, load_file(path)))
        except ValidationFailed as exc:
            problems.extend(exc.problems)
    catalog: dict[str, Part] = {}
    stations: set[str] = set()
    if store is not None:
        catalog = {r["number"]: part_from_dict(json.loads(r["doc"]))
                   for r in store.find("parts")}
        stations = {r["type"] for r in store.find("stations")}
    for _path, f in loaded:
        catalog.update((p.number, p) for p in f.parts)
    for i, (path, f) in enumerate(loaded):
        if f.kind != "routing":
            continue
        try:  # again, with the catalog: part references are checked with their lines
            loaded[i] = (path, load_file(path, catalog=catalog))
        except ValidationFailed as exc:
            problems.extend(exc.problems)
        if f.routing is not None:  # as parsed on the first pass: report the rest too
            problems += _routing_problems(str(path), f.routing, catalog, stations)
    for path, f in loaded:
        for part in f.parts:
            problems += _label_problems(str(path), part, template_dirs)
    if problems:
        raise ValidationFailed(problems)
    return loaded


def _routing_problems(file: str, routing: Routing, catalog: dict[str, Part],
                      stations: set[str]) -> list[Problem]:
    out = []
    for i, op in enumerate(routing.operations):
        if stations and op.station_type not in stations:
            out.append(Problem(file, None, f"routing.operations[{i}].station_type",
                               f"op {op.op}: no station of type {op.station_type} is "
                               f"registered (there are: {', '.join(sorted(stations))}): "
                               "correct the type or add the station first"))
    part = catalog.get(routing.part)
    making = [op for op in routing.operations if op.activity not in NON_CONFERRING_ACTIVITIES]
    # A device only kitted, labelled and packed here rightly confers no origin; one that
    # is made here but has no origin-conferring op is a routing mistake.
    if part is not None and part.kind == "device" and making and \
            not any(op.origin_conferring for op in routing.operations):
        out.append(Problem(file, None, "routing.operations",
                           f"{routing.part} is a device made here (op "
                           f"{', '.join(str(o.op) for o in making)}) but no operation has "
                           "origin_conferring: true: mark the operation where it is made "
                           "(e.g. final assembly), or its label can never claim an origin"))
    return out


def _label_problems(file: str, part: Part, template_dirs: list[Path]) -> list[Problem]:
    if part.kind != "device":
        return []
    from mes.errors import MesError
    from mes.render.label_templates import DEFAULT_LIMITS, load_template

    limits: dict[str, int] = {}
    for name in DEVICE_TEMPLATES:
        try:
            limits[name] = load_template(name, template_dirs).limits.get(
                "product_name", DEFAULT_LIMITS["product_name"])
        except MesError:
            continue  # a missing template is the label job's refusal, not the catalog's
    too_small = sorted(n for n, limit in limits.items() if len(part.name) > limit)
    if not too_small:
        return []
    fits = min(limits[n] for n in too_small)
    return [Problem(file, None, f"parts.{part.number}.name",
                    f"{part.name!r} has {len(part.name)} characters; label template"
                    f"{'s' if len(too_small) > 1 else ''} {', '.join(too_small)} fit"
                    f"{'' if len(too_small) > 1 else 's'} {fits}: shorten the name")]
