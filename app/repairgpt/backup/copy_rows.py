"""Rows a restore loaded per table, from psql's own `COPY n` command tags.

Counting the restored tables afterwards means reading all of them once more (and setting
their hint bits, which dirties every page). psql already reports how many rows each
`COPY ... FROM stdin` loaded; pairing those tags, in order, with the COPY statements seen in
the dump as it streams to psql gives the same numbers for free. When the two lists do not
line up (a dump that is not plain pg_dump output), the caller counts by scanning instead.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import IO

_COPY_STATEMENT = re.compile(rb"COPY (?P<table>.+?)(?: \(.*\))? FROM stdin;")
_COPY_TAG = re.compile(rb"COPY (\d+)")
_TERMINATOR = b"\n\\.\n"


class CopyStatements:
    """The tables of a plain dump's `COPY ... FROM stdin;` statements, in order, found while
    the dump streams by in pieces of any size.

    Only two searches run per piece: for the next line that starts a COPY statement, and,
    inside COPY data (nearly all of a dump), for the `\\.` line that ends it.
    """

    def __init__(self) -> None:
        self.tables: list[str] = []
        self._pending = b"\n"  # the stream starts at a line start
        self._in_data = False

    def feed(self, piece: bytes) -> None:
        buf = self._pending + piece
        pos = 0
        while True:
            if self._in_data:
                end = buf.find(_TERMINATOR, pos)
                if end == -1:
                    # Keep what could be the start of a terminator split across pieces.
                    self._pending = buf[max(pos, len(buf) - len(_TERMINATOR) + 1) :]
                    return
                self._in_data = False
                pos = end + len(_TERMINATOR) - 1  # the newline that ends the terminator line
                continue
            start = buf.find(b"\nCOPY ", pos)
            if start == -1:
                line_start = buf.rfind(b"\n", pos)
                self._pending = buf[line_start if line_start != -1 else len(buf) :]
                return
            line_end = buf.find(b"\n", start + 1)
            if line_end == -1:
                self._pending = buf[start:]
                return
            statement = _COPY_STATEMENT.fullmatch(buf, start + 1, line_end)
            if statement is not None:
                self.tables.append(statement["table"].decode("utf-8", "replace"))
                self._in_data = True
            pos = line_end


class CopyTags:
    """Reads psql's standard output in a thread and keeps the row counts of its COPY tags."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.counts: list[int] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[bytes]) -> None:
        for line in stream:
            tag = _COPY_TAG.fullmatch(line.rstrip(b"\r\n"))
            if tag is not None:
                self.counts.append(int(tag[1]))
        stream.close()

    def wait(self) -> list[int]:
        self._thread.join(timeout=10)
        return self.counts


def rows_per_table(
    tables: list[str], counts: list[int], label: Callable[[str], str]
) -> dict[str, int] | None:
    """Rows loaded per table, keyed by `label(COPY's table name)`; None when the statements and
    the tags do not pair up, or a name cannot be read (`label` raises ValueError)."""
    if len(tables) != len(counts):
        return None
    rows: dict[str, int] = {}
    try:
        for table, count in zip(tables, counts, strict=True):
            key = label(table)
            rows[key] = rows.get(key, 0) + count
    except ValueError:
        return None
    return rows
