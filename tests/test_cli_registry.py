"""The lazy command table in mes.cli must name every command each module registers."""

from __future__ import annotations

import importlib

import typer

from mes.cli import MODULES


def test_every_registered_name_is_in_the_table() -> None:
    for module, names in MODULES.items():
        app = typer.Typer()
        importlib.import_module(f"mes.cli.{module}").register(app)
        registered = {c.name or typer.main.get_command_name(c.callback.__name__)
                      for c in app.registered_commands if c.callback}
        registered |= {g.name for g in app.registered_groups if g.name}
        assert registered <= set(names), f"{module} registers {registered - set(names)}"
