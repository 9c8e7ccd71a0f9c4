"""Run mes from a checkout without installing it: `python cli.py --help`."""
from mes.cli import main; raise SystemExit(main())  # noqa: E702
