"""`python -m repairgpt.backup backup ...`: the backup commands alone, as `repairgpt` has them."""

from __future__ import annotations

import argparse
import sys

from repairgpt.backup.commands import add_backup_commands


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="repairgpt")
    add_backup_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
