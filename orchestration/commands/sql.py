"""`flywheel sql "SELECT ..."` and `flywheel status`."""

from __future__ import annotations

import argparse

from flywheel.config import Config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sql", help="run one read-only SQL query against the store")
    p.add_argument("query", help='e.g. "SELECT * FROM round_funnel"')
    p.add_argument("--format", choices=["table", "csv", "json"], default="table",
                   help="table: aligned text for reading; csv or json (one object a row) for programs")
    p.set_defaults(func=cmd_sql)
    s = sub.add_parser("status", help="rounds, stage states and the funnel")
    s.set_defaults(func=cmd_status)


def cmd_sql(args: argparse.Namespace, cfg: Config) -> int:
    from db.sql import format_result, run_readonly
    from db.store import Store

    with Store.open(cfg.db) as store:
        print(format_result(run_readonly(store, args.query), args.format))
    return 0


def cmd_status(args: argparse.Namespace, cfg: Config) -> int:
    from db.status import status_report
    from db.store import Store

    with Store.open(cfg.db) as store:
        print(status_report(store, cfg.export.require_checks))
    return 0
