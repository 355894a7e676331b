"""The `flywheel` command line. `main(argv) -> int` so that tests drive it in-process."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from typing import Sequence

from flywheel import __version__
from flywheel.config import Config, load_config
from flywheel.errors import FlywheelError

# Each module registers its own sub-commands; order is the order of `flywheel --help`.
COMMAND_MODULES = [
    "orchestration.commands.db",
    "orchestration.commands.ingest",
    "orchestration.commands.sql",
    "orchestration.commands.export",
    "orchestration.commands.lean",
    "orchestration.commands.stages",
    "orchestration.commands.run",
    "orchestration.commands.train",
]

EXIT_OK, EXIT_PARTIAL, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flywheel",
        description="Informal competition mathematics in, verified Lean 4 training data out.",
    )
    parser.add_argument("--version", action="version", version=f"flywheel {__version__}")
    parser.add_argument("--config", metavar="FILE", default=os.environ.get("FLYWHEEL_CONFIG") or None,
                        help="YAML config (sections: db, lean, generator, ...); default: $FLYWHEEL_CONFIG")
    parser.add_argument("--db", metavar="URL", help="PostgreSQL URL (else FLYWHEEL_DB_URL, else embedded)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def config_from_args(args: argparse.Namespace) -> Config:
    overrides: dict = {}
    if args.db:
        overrides["db"] = {"url": args.db}
    return load_config(args.config, overrides)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:  # a run's log file may ask for more than the terminal
        handler.setLevel(level)
    try:
        cfg = config_from_args(args)
        return int(args.func(args, cfg) or EXIT_OK)
    except FlywheelError as e:
        print(f"flywheel: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("flywheel: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
