"""Database URLs for libpq tools: driver suffixes removed, passwords kept out of argv and logs."""

from __future__ import annotations

import re
from dataclasses import dataclass

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from repairgpt.backup.errors import BackupError

# SQLAlchemy spells URLs `postgresql+psycopg://`; libpq only knows `postgresql://`/`postgres://`.
_DRIVER_SCHEME = re.compile(r"^(postgres(?:ql)?)\+[A-Za-z0-9_]+://")
# Everything between `user:` and the `@` is the password (it cannot hold a raw `@`).
_URL_PASSWORD = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^:/@?#]*):[^@]*@")
_KV_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


@dataclass(frozen=True)
class LibpqTarget:
    """How to reach a database with psql/pg_dump without the password on the command line."""

    conninfo: str  # key=value connection string without the password
    password: str | None  # goes to the PGPASSWORD environment variable of the child process
    display: str  # safe to print

    def child_env(self, base: dict[str, str]) -> dict[str, str]:
        env = dict(base)
        if self.password is not None:
            env["PGPASSWORD"] = self.password
        return env


def strip_driver(dsn: str) -> str:
    """`postgresql+psycopg://...` -> `postgresql://...`; other DSNs unchanged."""
    return _DRIVER_SCHEME.sub(r"\1://", dsn.strip())


def mask_dsn(dsn: str) -> str:
    """The DSN with any password replaced by `***`, for logs and error messages."""
    masked = _URL_PASSWORD.sub(r"\1:***@", dsn)
    return _KV_PASSWORD.sub(r"\1***", masked)


def libpq_target(dsn: str) -> LibpqTarget:
    """Split a database URL (or key=value DSN) into a password-free conninfo and the password."""
    plain = strip_driver(dsn)
    try:
        params = conninfo_to_dict(plain)
    except Exception as exc:  # psycopg raises ProgrammingError with the DSN text in it
        raise BackupError(f"invalid database URL {mask_dsn(plain)!r}") from exc
    password = params.pop("password", None)
    display = mask_dsn(plain)
    return LibpqTarget(
        conninfo=make_conninfo("", **{k: str(v) for k, v in params.items() if v is not None}),
        password=str(password) if password is not None else None,
        display=display,
    )


def scrub(text: str, target: LibpqTarget) -> str:
    """Remove the password from a message that a library or tool produced."""
    if target.password:
        text = text.replace(target.password, "***")
    return mask_dsn(text)
