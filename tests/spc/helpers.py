"""Helpers for the SPC tests: phase-I data files and approved limits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import Workspace


def phase1_file(ws: Workspace, name: str, lines: list[list[float]]) -> Path:
    path = ws.path / name
    path.write_text("# phase-I study\n" + "\n".join(" ".join(f"{v:g}" for v in line)
                                                      for line in lines) + "\n")
    return path


def approved_limits(ws: Workspace, char: str, lines: list[list[float]]) -> dict[str, Any]:
    """Limits set by tarik (technician) from a study file, approved by youssef (quality)."""
    path = phase1_file(ws, f"{char}.txt", lines)
    d = json.loads(ws.ok("spc", "limits", "set", char, "--data", path, "--reason",
                         "PQ study", "--json", user="tarik").out)
    ws.ok("spc", "limits", "approve", char, "--version", d["version"], user="youssef")
    return dict(d)


def alternating(center: float, step: float, n: int) -> list[list[float]]:
    """Individuals around `center` (moving range `2*step`): limits center ± 3·2·step/1.128."""
    return [[center + (step if i % 2 else -step)] for i in range(n)]
