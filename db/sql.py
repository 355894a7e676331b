"""Users' SQL, read-only: one statement, inside a READ ONLY transaction that is always rolled back."""

from __future__ import annotations

import csv
import io
import json
import re
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable

from db.store import Store
from flywheel.errors import StoreError

_LITERALS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/|(\$[A-Za-z_]*\$).*?\1", re.S)
_CONTROL = re.compile(r"^\s*(begin|start|commit|end|rollback|abort|savepoint|release|set|reset|discard|prepare|"
                      r"execute|deallocate|lock|listen|notify|load|vacuum|copy|call|do)\b", re.I)


@dataclass(slots=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple]


def _check(sql: str) -> None:
    code = _LITERALS.sub(" ", sql).strip().rstrip(";").strip()
    if not code:
        raise StoreError("read-only: empty query")
    if ";" in code:
        raise StoreError("read-only: one statement at a time (the query has more than one)")
    m = _CONTROL.match(code)
    if m:
        raise StoreError(f"read-only: {m.group(1).upper()} is not allowed here")


def run_readonly(store: Store, sql: str, timeout_s: float = 300.0) -> QueryResult:
    """Raises StoreError("read-only: ...") for any write, DDL or transaction control; changes nothing."""
    import psycopg2

    _check(sql)
    with store.read_only() as conn:
        dbapi = conn.connection.dbapi_connection
        cur = dbapi.cursor()
        try:
            cur.execute(f"SET LOCAL statement_timeout = {int(timeout_s * 1000)}")
            return _cancellable(dbapi, lambda: _fetch(cur, sql))
        except psycopg2.errors.ReadOnlySqlTransaction as e:
            raise StoreError(f"read-only: {e.pgerror.strip().splitlines()[0] if e.pgerror else e}") from e
        except psycopg2.Error as e:
            raise StoreError(f"query failed: {(e.pgerror or str(e)).strip()}") from e
        finally:
            cur.close()


def _fetch(cur, sql: str) -> QueryResult:
    cur.execute(sql)  # raw DBAPI: no parameter interpolation of % or :name in the user's text
    if not cur.description:
        return QueryResult([], [])
    return QueryResult([d.name for d in cur.description], cur.fetchall())


def _cancellable(dbapi, work: Callable[[], QueryResult], grace_s: float = 5.0) -> QueryResult:
    """Run `work` on a helper thread so that Ctrl-C reaches us at once; then ask the server to cancel the
    query (psycopg2's cancel travels on its own connection) and let the interrupt go on."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = work()
        except BaseException as e:  # handed to the caller's thread below
            box["error"] = e

    worker = threading.Thread(target=run, name="flywheel-sql", daemon=True)
    try:
        worker.start()  # inside the try: a Ctrl-C that comes as the query starts still cancels it
        while worker.is_alive():
            worker.join(0.2)
    except KeyboardInterrupt:
        dbapi.cancel()
        worker.join(grace_s)  # the server stops the query and answers at once
        raise
    if "error" in box:
        raise box["error"]
    return box["result"]


def _cell(v: Any) -> Any:
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    if isinstance(v, (dict, list)):
        return v
    return str(v)


def format_result(result: QueryResult, fmt: str) -> str:
    if fmt == "json":
        shared = [c for c, n in Counter(result.columns).items() if n > 1]
        if shared:
            raise StoreError(f"--format json: columns share a name ({', '.join(shared)}), so an object would keep "
                             f"only one of each: name them apart with AS, or use --format table or csv")
        return json.dumps([{c: _cell(v) for c, v in zip(result.columns, row)} for row in result.rows],
                          ensure_ascii=False, indent=1, default=str)
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(result.columns)
        for row in result.rows:
            w.writerow([json.dumps(v) if isinstance(v, (dict, list)) else ("" if v is None else v) for v in row])
        return buf.getvalue().rstrip("\n")
    return render_table(result.columns, result.rows)


def render_table(columns: list[str], rows: list[tuple]) -> str:
    def show(v: Any) -> str:
        if v is None:
            return ""
        text = json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else str(v)
        text = text.replace("\n", "⏎")
        return text if len(text) <= 80 else text[:77] + "..."

    cells = [[show(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = [" | ".join(c.ljust(w) for c, w in zip(columns, widths)), "-+-".join("-" * w for w in widths)]
    lines += [" | ".join(v.ljust(w) for v, w in zip(r, widths)) for r in cells]
    lines.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(lines)
