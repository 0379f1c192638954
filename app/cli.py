"""The `hipfix` command: serve, migrate, load-content, reevaluate, backup, restore,
export-openapi."""

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from app.content.files import ContentError


def _migrate(_: argparse.Namespace) -> int:
    from app.core.migrations import upgrade_to_head

    applied = upgrade_to_head()
    print(f"migrations: {applied} applied" if applied else "migrations: none to apply")
    _reconcile_feed()
    loaded = _load_content(_)
    if loaded != 0:
        return loaded
    # After the content: a replay needs the protocol documents. Only histories evaluated by
    # other rules are replayed, so this is a no-op once they are all current.
    return _reevaluate(argparse.Namespace(every=False))


def _reconcile_feed() -> None:
    """Before anything serves or writes (the replay below adds feed entries): after a restore
    into a fresh PostgreSQL server, new feed entries must be numbered above the restored ones."""
    import asyncio

    from app.core.caches import Caches
    from app.core.db import Database, get_engine
    from app.progression.feed import reconcile_epoch

    async def run() -> tuple[int, int] | None:
        database = Database(get_engine(), threads=1, caches=Caches())
        try:
            return await database.write(reconcile_epoch)
        finally:
            database.close()

    epochs = asyncio.run(run())
    if epochs is not None and epochs[0] != epochs[1]:
        print(f"feed: epoch raised from {epochs[0]} to {epochs[1]}, above the stored entries")


def _reevaluate(args: argparse.Namespace) -> int:
    """Replay stored histories with the engine's current rules, one unit of work each."""
    import asyncio

    from app.core.caches import Caches
    from app.core.db import Database, get_engine
    from app.progression import replay
    from app.progression.rules import VERSION

    async def run() -> tuple[int, int, int]:
        database = Database(get_engine(), threads=1, caches=Caches())
        replayed = added = retracted = 0
        try:
            for ident in await database.read(replay.enrollment_ids):
                changes = await database.write(
                    replay.reevaluate_history, ident, every=bool(args.every)
                )
                if changes is not None:
                    replayed += 1
                    added += changes.added
                    retracted += changes.retracted
        finally:
            database.close()
        return replayed, added, retracted

    replayed, added, retracted = asyncio.run(run())
    print(
        f"reevaluate: rules {VERSION}: {replayed} histories replayed, {added} decisions added, "
        f"{retracted} retracted"
    )
    return 0


def _load_content(_: argparse.Namespace) -> int:
    from sqlmodel import Session

    from app.content.loader import load_content
    from app.core.db import get_engine

    try:
        with Session(get_engine()) as session:
            report = load_content(session)
    except ContentError as exc:
        print(f"content: refused: {exc}", file=sys.stderr)
        return 1
    print(f"content: {len(report.published)} published, {len(report.unchanged)} unchanged")
    for name in report.published:
        print(f"  published {name}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.core.config import get_settings
    from app.core.logs import log_config

    settings = get_settings()
    # Several workers: each writes its metrics to one folder, and a scrape of any of them adds
    # them all up (prometheus_client's multiprocess mode; app/core/metrics.py). A fresh folder
    # each start, so no dead process's values are counted.
    if settings.metrics and args.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="hipfix-metrics-")
    # The one line to look for in the log (uvicorn's own says 0.0.0.0 for every address).
    shown = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    print(f"hipfix: serving http://{shown}:{args.port} (API docs: http://{shown}:{args.port}/docs)")
    uvicorn.run(
        "app.main:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        http="httptools",
        log_level=settings.log_level.lower(),
        # No secret in any log line, each with its request id, readable or JSON
        # (app/core/logs.py). HipFix writes the one line per request (`hipfix.access`).
        log_config=log_config(settings.log_level, settings.log_format),
        access_log=False,
        timeout_graceful_shutdown=20,
    )
    return 0


def _backup(args: argparse.Namespace) -> int:
    from app.core.backups import BackupError, backup
    from app.core.config import get_settings

    try:
        copied = backup(get_settings().database_url, Path(args.path))
    except BackupError as exc:
        print(f"backup: refused: {exc}", file=sys.stderr)
        return 1
    print(f"backup: wrote {args.path} ({copied.pages} pages, {copied.bytes} bytes)")
    return 0


def _restore(args: argparse.Namespace) -> int:
    from app.core.backups import BackupError, restore
    from app.core.config import get_settings

    try:
        copied = restore(get_settings().database_url, Path(args.path))
    except BackupError as exc:
        print(f"restore: refused: {exc}", file=sys.stderr)
        return 1
    print(f"restore: {args.path} restored ({copied.pages} pages); run `hipfix migrate` next")
    return 0


def _export_openapi(args: argparse.Namespace) -> int:
    from app.core.openapi import render_openapi
    from app.main import create_app

    text = render_openapi(create_app())
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"openapi: wrote {args.output}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hipfix", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the API with uvicorn")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(handler=_serve)

    migrate = commands.add_parser("migrate", help="apply migrations, then load the content")
    migrate.set_defaults(handler=_migrate)

    load = commands.add_parser("load-content", help="publish new content versions")
    load.set_defaults(handler=_load_content)

    reevaluate = commands.add_parser(
        "reevaluate",
        help="replay stored histories evaluated by other rules (differences are retracted, "
        "never deleted); run by migrate",
    )
    reevaluate.add_argument(
        "--every", action="store_true", help="replay every history, current ones too"
    )
    reevaluate.set_defaults(handler=_reevaluate)

    backup = commands.add_parser(
        "backup",
        help="write a consistent copy of the SQLite database to PATH, while it serves",
    )
    backup.add_argument("path", help="a new file")
    backup.set_defaults(handler=_backup)

    restore = commands.add_parser(
        "restore",
        help="put the backup at PATH in place of the SQLite database (refused while served)",
    )
    restore.add_argument("path", help="a file written by `hipfix backup`")
    restore.set_defaults(handler=_restore)

    export = commands.add_parser("export-openapi", help="write the OpenAPI document")
    export.add_argument("--output", default="openapi/openapi.json", help="a path, or - for stdout")
    export.set_defaults(handler=_export_openapi)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler  # set by every subcommand
    return handler(args)


if __name__ == "__main__":
    raise SystemExit(main())
