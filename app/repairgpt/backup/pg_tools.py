"""Finding pg_dump and psql, telling their versions, and explaining their failures."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from repairgpt.backup.errors import (
    BackupError,
    DatabaseUnreachableError,
    DumpFailedError,
    ToolMissingError,
    VersionMismatchError,
)

_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")


@dataclass(frozen=True)
class PgTools:
    """Where pg_dump and psql are found: `bin_dir` first, then PATH."""

    bin_dir: Path | None = None

    def path(self, name: str) -> str:
        if self.bin_dir is not None:
            candidate = self.bin_dir / name
            if candidate.exists():
                return str(candidate)
        found = shutil.which(name)
        if found is None:
            where = f" in {self.bin_dir} or" if self.bin_dir is not None else ""
            raise ToolMissingError(
                f"{name} not found{where} on PATH; install the PostgreSQL client "
                "(e.g. Debian's postgresql-client) or pass --pg-bin-dir"
            )
        return found

    def version(self, name: str) -> str:
        binary = self.path(name)
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
        version = parse_tool_version(out.stdout)
        if version is None:
            raise ToolMissingError(f"cannot tell the version of {binary}: {out.stdout.strip()!r}")
        return version


def parse_tool_version(output: str) -> str | None:
    """`pg_dump (PostgreSQL) 15.18 (Debian ...)` -> `15.18`."""
    match = _VERSION.search(output)
    if match is None:
        return None
    return match[1] if match[2] is None else f"{match[1]}.{match[2]}"


def major_of(version: str) -> int:
    return int(re.split(r"\D", version.strip(), maxsplit=1)[0])


def check_dump_compatible(*, server_version_num: int, pg_dump_version: str) -> None:
    """pg_dump can dump servers of its own major version and older, never newer ones."""
    server_major = server_version_num // 10000
    tool_major = major_of(pg_dump_version)
    if server_major > tool_major:
        raise VersionMismatchError(version_mismatch_advice(str(server_major), pg_dump_version))


def version_mismatch_advice(server_version: str, pg_dump_version: str) -> str:
    return (
        f"pg_dump {pg_dump_version} cannot dump a PostgreSQL {server_version} server "
        "(pg_dump must be the server's major version or newer); install a newer client "
        f"(e.g. postgresql-client-{major_of(server_version)}) or point --pg-bin-dir at it"
    )


_SERVER_MISMATCH = re.compile(
    r"server version:\s*(\d[\w.]*)[^;\n]*;\s*pg_dump version:\s*(\d[\w.]*)"
)


def explain_dump_failure(stderr: str, returncode: int) -> BackupError:
    """Turn pg_dump's stderr into an error a person can act on."""
    mismatch = _SERVER_MISMATCH.search(stderr)
    if mismatch:
        return VersionMismatchError(version_mismatch_advice(mismatch[1], mismatch[2]))
    if "server version mismatch" in stderr:
        return VersionMismatchError(
            "pg_dump is older than the PostgreSQL server and refuses to dump it; install the "
            f"client of the server's major version or newer: {message_tail(stderr)}"
        )
    if "connection to server" in stderr or "could not connect" in stderr:
        return DatabaseUnreachableError(f"pg_dump cannot connect: {message_tail(stderr)}")
    return DumpFailedError(f"pg_dump failed (exit {returncode}): {message_tail(stderr)}")


def message_tail(text: str, lines: int = 6) -> str:
    """The last non-blank lines of a tool's stderr on one line."""
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return " | ".join(kept) or "no message"
