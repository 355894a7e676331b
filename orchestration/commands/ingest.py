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

    from orchestration.progress import progress_bar

    fmap = FieldMap.parse(args.map)
    with Store.open(cfg.db) as store, progress_bar("ingest", _lines(args.file), "record") as bar:
        report = ingest_file(store, args.file, args.source, fmap, progress=bar.update)
    for note in report.warnings:
        print(f"{note} (warning)", file=sys.stderr)
    for bad in report.rejected:
        print(str(bad), file=sys.stderr)
    changed = f", changed text for a known id {report.changed}" if report.changed else ""
    print(f"{args.file}: read {report.read}, new {report.new}, duplicate {report.duplicate}, "
          f"rejected {len(report.rejected)}{changed}")
    return 1 if report.rejected else 0


def _lines(path: str) -> int | None:
    """The bar's total for a JSONL file on a terminal (about one record a line); None otherwise."""
    if not sys.stderr.isatty():
        return None
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16)
            if head.lstrip()[:1] == b"[":
                return None  # a JSON array: records are not lines
            n = head.count(b"\n")
            for chunk in iter(lambda: f.read(1 << 20), b""):
                n += chunk.count(b"\n")
        return n
    except OSError:
        return None  # ingest_file names the unreadable file
