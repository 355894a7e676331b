"""`flywheel db upgrade|current` and `flywheel status`."""

from __future__ import annotations

import argparse

from flywheel.config import Config


def register(sub: argparse._SubParsersAction) -> None:
    db = sub.add_parser("db", help="the store: migrations and where it is")
    dbsub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = dbsub.add_parser("upgrade", help="apply migrations (creates the schema on an empty database)")
    up.add_argument("--revision", default="head")
    up.set_defaults(func=cmd_upgrade)
    cur = dbsub.add_parser("current", help="say where the store is and its schema revision")
    cur.set_defaults(func=cmd_current)


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
