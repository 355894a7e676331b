"""`flywheel db upgrade|current|status|stop`."""

from __future__ import annotations

import argparse

from flywheel.config import Config


def register(sub: argparse._SubParsersAction) -> None:
    db = sub.add_parser("db", help="the store: migrations, where it is, the embedded server")
    dbsub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = dbsub.add_parser("upgrade", help="apply migrations (creates the schema on an empty database)")
    up.add_argument("--revision", default="head", help="the schema revision to migrate to")
    up.set_defaults(func=cmd_upgrade)
    cur = dbsub.add_parser("current", help="say where the store is and its schema revision")
    cur.set_defaults(func=cmd_current)
    st = dbsub.add_parser("status", help="whether the embedded PostgreSQL of this data dir runs: where, which pid")
    st.set_defaults(func=cmd_server_status)
    stop = dbsub.add_parser("stop", help="stop the embedded PostgreSQL of this data dir cleanly "
                                         "(clients are disconnected; the next command starts it again)")
    stop.set_defaults(func=cmd_server_stop)


def cmd_upgrade(args: argparse.Namespace, cfg: Config) -> int:
    from db import migrate
    from db.store import Store

    with Store.open(cfg.db, require_schema=False) as store:
        before, after = migrate.upgrade(store.engine, args.revision)
        if before == after:
            print(f"store: {store.describe()} is at schema {after}; nothing to do")
        else:
            print(f"store: {store.describe()} upgraded from {before or 'empty'} to {after}")
    return 0


def cmd_current(args: argparse.Namespace, cfg: Config) -> int:
    from db import migrate
    from db.store import Store

    with Store.open(cfg.db, require_schema=False) as store:
        current, head = migrate.current_revision(store.engine), migrate.head_revision()
        state = "current" if current == head else "behind: run `flywheel db upgrade`"
        print(f"store: {store.describe()}\nschema: {current or 'none'} (head {head}, {state})")
    return 0


def _pgdata(cfg: Config, action: str):
    from db.engine import embedded_pgdata, redact

    pgdata = embedded_pgdata(cfg.db)
    if pgdata is None:
        print(f"store: {redact(cfg.db.url)}, a server flywheel does not manage: nothing to {action} here")
    return pgdata


def cmd_server_status(args: argparse.Namespace, cfg: Config) -> int:
    from db.embedded import embedded_server

    pgdata = _pgdata(cfg, "report")
    if pgdata is not None:
        print(embedded_server(pgdata).describe())
    return 0


def cmd_server_stop(args: argparse.Namespace, cfg: Config) -> int:
    from db.embedded import stop_embedded

    pgdata = _pgdata(cfg, "stop")
    if pgdata is None:
        return 0
    stopped = stop_embedded(pgdata)
    print(f"embedded PostgreSQL in {pgdata}: " + (f"stopped (was pid {stopped.pid})" if stopped else "was not running"))
    return 0
