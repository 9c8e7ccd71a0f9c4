"""Run mes from a checkout without installing it: `python cli.py --help`."""

from mes.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
