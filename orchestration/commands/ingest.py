"""`flywheel ingest FILE --source NAME [--map informal=FIELD] ...`"""

from __future__ import annotations

import argparse
import sys

from flywheel.config import Config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ingest", help="store informal problems from a JSONL file (or a JSON array)")
    p.add_argument("file", help="JSONL, one problem a line, or a JSON array of objects")
    p.add_argument("--source", required=True, help="where the problems come from, e.g. math500")
    p.add_argument("--map", action="append", default=[], metavar="ROLE=FIELD",
                   help="informal=FIELD, answer=FIELD or id=FIELD (repeatable); other fields go to metadata")
    p.set_defaults(func=cmd_ingest)


def cmd_ingest(args: argparse.Namespace, cfg: Config) -> int:
    from db.ingest import FieldMap, ingest_file
    from db.store import Store

    fmap = FieldMap.parse(args.map)
    with Store.open(cfg.db) as store:
        report = ingest_file(store, args.file, args.source, fmap)
    for bad in report.rejected:
        print(str(bad), file=sys.stderr)
    print(f"{args.file}: read {report.read}, new {report.new}, duplicate {report.duplicate}, "
          f"rejected {len(report.rejected)}")
    return 1 if report.rejected else 0
