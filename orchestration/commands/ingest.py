"""`flywheel ingest FILE --source NAME [--map informal=FIELD] ...`; with --formal, Lean statements that enter
the filter and prove stages without autoformalization."""

from __future__ import annotations

import argparse
import sys

from flywheel.config import Config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ingest", help="store informal problems (or, with --formal, Lean statements) from a JSONL file")
    p.add_argument("file", help="JSONL, one problem a line, or a JSON array of objects")
    p.add_argument("--source", required=True, help="where the problems come from, e.g. math500")
    p.add_argument("--formal", action="store_true",
                   help="records are Lean theorems (formal_statement, header, informal, id fields): stored as statements "
                        "that the next round filters and proves, with no autoformalization; a record without a header "
                        "field gets lean.header")
    p.add_argument("--map", action="append", default=[], metavar="ROLE=FIELD",
                   help="informal=FIELD, answer=FIELD or id=FIELD (repeatable); with --formal formal_statement=FIELD, "
                        "header=FIELD, informal=FIELD or id=FIELD; other fields go to metadata")
    p.set_defaults(func=cmd_ingest)


def cmd_ingest(args: argparse.Namespace, cfg: Config) -> int:
    from db.ingest import FieldMap, ingest_file
    from db.store import Store

    from orchestration.progress import progress_bar

    from flywheel.fields import FORMAL_ROLES, INFORMAL_ROLES

    fmap = FieldMap.parse(args.map, FORMAL_ROLES if args.formal else INFORMAL_ROLES)
    with Store.open(cfg.db) as store, progress_bar("ingest", _lines(args.file), "record") as bar:
        convert = _formal(store, cfg, args.source, fmap) if args.formal else None
        report = ingest_file(store, args.file, args.source, fmap, progress=bar.update, convert=convert)
    for note in report.warnings:
        print(f"{note} (warning)", file=sys.stderr)
    for bad in report.rejected:
        print(str(bad), file=sys.stderr)
    changed = f", changed text for a known id {report.changed}" if report.changed else ""
    kind = "new formal statements" if args.formal else "new"
    print(f"{args.file}: read {report.read}, {kind} {report.new}, duplicate {report.duplicate}, "
          f"rejected {len(report.rejected)}{changed}")
    return 1 if report.rejected else 0


def _formal(store, cfg: Config, source: str, fmap):
    """The converter of formal records, their statements stored for the round that runs next."""
    from autoformalize.formal import formal_record
    from db.models import RoundRow

    with store.session() as s:
        last = s.query(RoundRow).order_by(RoundRow.number.desc()).first()
    round_ = 1 if last is None else last.number + (last.finished_at is not None)

    def convert(obj, where):
        return formal_record(obj, where, source, fmap, cfg.lean.header, round_)

    return convert


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
