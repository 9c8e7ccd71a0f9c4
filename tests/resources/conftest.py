"""The foundation's fast `workspace`/`plant` (a template copied per test)."""

from tests.foundation.conftest import _templates, plant, workspace  # noqa: F401
