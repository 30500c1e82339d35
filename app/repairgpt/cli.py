"""The `repairgpt` command: serve the API, migrate and prune the database, import guides."""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from repairgpt import __version__
from repairgpt.core.logging import configure_logging
from repairgpt_contract.results import encode_result

if TYPE_CHECKING:
    from fastapi import FastAPI

# The app's settings (pydantic) are imported by the commands that use them: the backup
# commands, run by Jobs, start faster without them.

log = logging.getLogger("repairgpt.cli")

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def tune_collector() -> None:
    """Garbage-collector settings for a long-running server process.

    What exists once the app is built (libraries, routes, schemas) lives as long as the process:
    frozen, it is no longer re-scanned by every full collection. A request allocates thousands
    of short-lived objects that reference counting frees on its own, so a larger young
    generation makes collections far rarer without holding more memory for long.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


def serving_app() -> FastAPI:
    """The app factory of each worker process of `repairgpt serve --workers N`."""
    from repairgpt.main import create_app

    app = create_app()
    tune_collector()
    return app


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from repairgpt.core.config import Settings
    from repairgpt.main import build_context, create_app, prepare_database

    if args.workers < 1:
        print("error: --workers must be at least 1", file=sys.stderr)
        return 2
    settings = Settings()
    common = {
        "host": args.host,
        "port": args.port,
        "log_config": None,  # keep the JSON handler installed by create_app
        "access_log": False,
        # The app itself reads X-Forwarded-For, and only from TRUSTED_PROXIES.
        "proxy_headers": False,
        "timeout_graceful_shutdown": 20,
    }
    if args.workers == 1:
        app = create_app(settings)
        tune_collector()
        uvicorn.run(app, **common)
        return 0
    configure_logging(settings.log_level)
    if not settings.maintenance_mode:
        # Migrate and seed once, here, before the workers start: workers starting together on
        # an empty database would otherwise race to seed it.
        context = build_context(settings)
        try:
            prepare_database(context)
        finally:
            context.db_engine.dispose()
    # Each worker builds its own app (settings from the same environment) from the factory.
    uvicorn.run("repairgpt.cli:serving_app", factory=True, workers=args.workers, **common)
    return 0


def cmd_db_migrate(args: argparse.Namespace) -> int:
    from repairgpt.core.config import Settings, mask_dsn
    from repairgpt.core.db import create_db_engine, migrate

    settings = Settings()
    engine = create_db_engine(settings.sqlalchemy_url)
    try:
        revision = migrate(engine, args.revision)
    finally:
        engine.dispose()
    print(f"database {mask_dsn(settings.sqlalchemy_url)} is at revision {revision}")
    return 0


def _prune_age(args: argparse.Namespace) -> timedelta:
    """The retention age from --older-than-days or --older-than; raises ValueError."""
    from repairgpt.services.chat_sessions import parse_duration

    if args.older_than_days is not None:
        if args.older_than_days < 1:
            raise ValueError("--older-than-days must be at least 1")
        return timedelta(days=args.older_than_days)
    return parse_duration(args.older_than)


def cmd_db_prune_chats(args: argparse.Namespace) -> int:
    from repairgpt.core.config import Settings
    from repairgpt.core.db import create_db_engine
    from repairgpt.services.chat_sessions import retention_cutoff
    from repairgpt.services.retention import count_prunable, prune_chat_history

    try:
        older_than = _prune_age(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.batch_size < 1:
        print("error: --batch-size must be at least 1", file=sys.stderr)
        return 2
    settings = Settings()
    engine = create_db_engine(settings.sqlalchemy_url)
    try:
        cutoff = retention_cutoff(older_than)
        if args.dry_run:
            result = count_prunable(engine, cutoff)
        else:
            result = prune_chat_history(engine, cutoff=cutoff, batch_size=args.batch_size)
    finally:
        engine.dispose()
    line = encode_result(result.as_json())
    if args.result_file is not None:
        # e.g. /dev/termination-log, where the operator reads the last run's result.
        Path(args.result_file).write_text(line + "\n")
    verb = "would delete" if args.dry_run else "deleted"
    print(
        f"{verb} {result.messages_deleted} chat messages and {result.sessions_deleted} chat "
        f"sessions older than {result.cutoff} in {result.batches} batches",
        file=sys.stderr,
    )
    print(line)
    return 0


def cmd_guides_import(args: argparse.Namespace) -> int:
    from tqdm import tqdm  # type: ignore[import-untyped]

    from repairgpt.core.config import Settings
    from repairgpt.core.db import build_session_factory, create_db_engine, migrate, session_scope
    from repairgpt.services.embeddings.command import compute_vectors
    from repairgpt.services.importer import GuideFileError, import_guide_file, read_guide_file

    path = Path(args.file)
    try:
        guide_file = read_guide_file(path)
    except GuideFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    settings = Settings()
    engine = create_db_engine(settings.sqlalchemy_url)
    try:
        migrate(engine)
        with tqdm(
            total=guide_file.total,
            unit="guide",
            desc=f"importing {path.name}",
            disable=args.quiet,
            file=sys.stderr,
        ) as bar:
            with session_scope(build_session_factory(engine)) as session:
                report = import_guide_file(session, guide_file, progress=bar.update)
        print(
            f"{guide_file.format}: {report.guides_created} guides created, "
            f"{report.guides_updated} updated, {report.guides_unchanged} unchanged; "
            f"{report.devices_created} devices created, {report.devices_updated} updated"
        )
        if not settings.embeddings_configured:
            return 0
        # After the guides are committed: a failing endpoint leaves them imported.
        return compute_vectors(
            settings, build_session_factory(engine), stream=sys.stderr, quiet=args.quiet
        )
    except GuideFileError as exc:
        print(f"error: {exc} (nothing was imported)", file=sys.stderr)
        return 2
    finally:
        engine.dispose()


def cmd_guides_embed(args: argparse.Namespace) -> int:
    from repairgpt.core.config import Settings
    from repairgpt.core.db import build_session_factory, create_db_engine, migrate
    from repairgpt.services.embeddings.command import compute_vectors

    settings = Settings()
    if not settings.embeddings_configured:
        print("error: EMBEDDINGS_BASE_URL is not set", file=sys.stderr)
        return 2
    engine = create_db_engine(settings.sqlalchemy_url)
    try:
        migrate(engine)
        return compute_vectors(
            settings, build_session_factory(engine), stream=sys.stderr, quiet=args.quiet
        )
    finally:
        engine.dispose()


def _add_backup_commands(subparsers: Subparsers) -> None:
    try:
        from repairgpt.backup.commands import add_backup_commands
    except ImportError as exc:
        message = f"the backup commands are not available in this installation ({exc})"

        def unavailable(_args: argparse.Namespace) -> int:
            print(f"error: {message}", file=sys.stderr)
            return 2

        backup = subparsers.add_parser("backup", help="database backups (not available)")
        backup.set_defaults(func=unavailable)
        return
    add_backup_commands(subparsers)


def _add_serve_command(subparsers: Subparsers) -> None:
    serve = subparsers.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to bind (default 8000)")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help=(
            "worker processes (default 1; in a cluster add replicas instead). Each worker has "
            "its own /metrics counters, search index and in-process fallbacks"
        ),
    )
    serve.set_defaults(func=cmd_serve)


def _add_db_commands(subparsers: Subparsers) -> None:
    db = subparsers.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    db_migrate = db_commands.add_parser("migrate", help="apply schema migrations")
    db_migrate.add_argument("--revision", default="head", help="target revision (default head)")
    db_migrate.set_defaults(func=cmd_db_migrate)
    prune = db_commands.add_parser("prune-chats", help="delete chat history past retention")
    age = prune.add_mutually_exclusive_group(required=True)
    age.add_argument("--older-than", help="age such as 365d, 12w or 48h (s, m, h, d, w)")
    age.add_argument("--older-than-days", type=int, metavar="N", help="age in days, e.g. 365")
    prune.add_argument(
        "--batch-size",
        type=int,
        default=5000,
        help="rows per transaction (default 5000): no statement holds locks for long",
    )
    prune.add_argument("--dry-run", action="store_true", help="count only, delete nothing")
    prune.add_argument(
        "--result-file",
        metavar="PATH",
        help="also write the one-line JSON result here, e.g. /dev/termination-log",
    )
    prune.set_defaults(func=cmd_db_prune_chats)


def _add_guides_commands(subparsers: Subparsers) -> None:
    guides = subparsers.add_parser("guides", help="repair guides")
    guide_commands = guides.add_subparsers(dest="guides_command", required=True, metavar="COMMAND")
    guides_import = guide_commands.add_parser(
        "import", help="import a repairgpt-guides/v1 JSON file or MyFixit/iFixit JSON lines"
    )
    guides_import.add_argument("file", help="the file to import")
    guides_import.add_argument("--quiet", action="store_true", help="no progress bar")
    guides_import.set_defaults(func=cmd_guides_import)
    guides_embed = guide_commands.add_parser(
        "embed",
        help="compute the guide vectors of EMBEDDINGS_MODEL that are missing or stale "
        "(import does this too when EMBEDDINGS_BASE_URL is set)",
    )
    guides_embed.add_argument("--quiet", action="store_true", help="no progress lines")
    guides_embed.set_defaults(func=cmd_guides_embed)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="repairgpt",
        description="RepairGPT: repair questions answered from a database of repair guides.",
    )
    parser.add_argument("--version", action="version", version=f"repairgpt {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_serve_command(subparsers)
    _add_db_commands(subparsers)
    _add_guides_commands(subparsers)
    _add_backup_commands(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command != "backup" and args.func is not cmd_serve:
        from repairgpt.core.config import Settings

        configure_logging(Settings().log_level)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
