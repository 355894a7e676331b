"""`flywheel report`: an HTML page with plots, and the same numbers as JSON, of every round in the store."""

from __future__ import annotations

import argparse
from pathlib import Path

from flywheel.config import Config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write an HTML report (funnel, drops, pass@k, loss, throughput, dataset) and its JSON")
    p.add_argument("--out", required=True, help="folder for index.html, report.json and the PNG plots")
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace, cfg: Config) -> int:
    from db.report import report_data
    from db.store import Store
    from orchestration.report import write_report

    with Store.open(cfg.db) as store:
        data = report_data(store)
    page = write_report(data, Path(args.out))
    print(f"report: {page} ({len(data['rounds'])} rounds, {len(data['pass_at_k'])} evaluations)")
    return 0
