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
    "orchestration.commands.synth",
    "orchestration.commands.sql",
    "orchestration.commands.export",
    "orchestration.commands.lean",
    "orchestration.commands.stages",
    "orchestration.commands.run",
    "orchestration.commands.train",
    "orchestration.commands.eval",
    "orchestration.commands.report",
]

EXIT_OK, EXIT_PARTIAL, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_BROKEN_PIPE = 128 + 13  # as a process killed by SIGPIPE, what shells expect of `cmd | head`


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends an option's default, unless it has none to show (None, off, empty) or its help says it already."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default in (None, False, [], argparse.SUPPRESS) or "default" in text:
            return text
        return super()._get_help_string(action)


def _global_options(parser: argparse.ArgumentParser, default) -> None:
    """--config, --db and -v: on the top parser with their defaults, on every sub-command without (SUPPRESS
    leaves the top parser's value alone unless the option is given after the sub-command)."""
    env_config = os.environ.get("FLYWHEEL_CONFIG") or None
    parser.add_argument("--config", metavar="FILE", default=env_config if default else argparse.SUPPRESS,
                        help="YAML config (sections: db, lean, generator, ...); default: $FLYWHEEL_CONFIG")
    parser.add_argument("--db", metavar="URL", default=None if default else argparse.SUPPRESS,
                        help="PostgreSQL URL (default: $FLYWHEEL_DB_URL, else the embedded server)")
    parser.add_argument("-v", "--verbose", action="count", default=0 if default else argparse.SUPPRESS,
                        help="more logging (-vv: debug; default: warnings only)")


def walk_parsers(parser: argparse.ArgumentParser):
    """The parser and every sub-command's parser below it, each once."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):  # aliases share a parser
                yield from walk_parsers(child)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flywheel",
        description="Informal competition mathematics in, verified Lean 4 training data out.",
    )
    parser.add_argument("--version", action="version", version=f"flywheel {__version__}")
    _global_options(parser, default=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    for child in walk_parsers(parser):
        child.formatter_class = HelpFormatter
        if child is not parser:
            _global_options(child, default=False)
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
    cfg = None
    try:
        cfg = config_from_args(args)
        return int(args.func(args, cfg) or EXIT_OK)
    except FlywheelError as e:
        print(f"flywheel: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("flywheel: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return quiet_broken_pipe()
    except Exception as e:  # a server that went away where no stage could say so: still one line
        from db.engine import described, store_failed

        lost = store_failed(e)
        if lost is None or cfg is None:
            raise
        print(f"flywheel: error: the database ({described(cfg.db)}) failed: {lost}; what was stored before it is kept",
              file=sys.stderr)
        return EXIT_ERROR


def quiet_broken_pipe() -> int:
    """The reader of our output went away (`| head`): stop quietly. stdout is pointed at /dev/null so that
    the interpreter's last flush does not fail again on the way out."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_BROKEN_PIPE


def entry() -> None:
    code = main()
    try:
        sys.stdout.flush()  # what is still buffered meets a closed pipe here, not in the interpreter's exit
    except BrokenPipeError:
        code = quiet_broken_pipe()
    sys.exit(code)


if __name__ == "__main__":
    entry()
