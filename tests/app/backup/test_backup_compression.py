"""Dumps are standard gzip: `gunzip` reads what the backup writes, and restores read `gzip`'s."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
from collections.abc import Callable, Iterator

import pytest

from repairgpt.backup.compression import (
    CorruptDumpError,
    GzipReader,
    gunzip_chunks,
    gzip_member,
)

SQL = b"".join(b"INSERT INTO t VALUES (%d, 'row %d');\n" % (i, i) for i in range(200_000))


def chunks(data: bytes, size: int = 65536) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def test_what_the_backup_compresses_is_read_back_by_the_gunzip_tool() -> None:
    reader = GzipReader(io.BytesIO(SQL), block_size=100_000, threads=3)
    parts = []
    while part := reader.read(300_000):
        assert len(part) <= 300_000
        parts.append(part)
    reader.close()
    assert reader.raw_bytes == len(SQL)
    unzipped = subprocess.run(["gzip", "-dc"], input=b"".join(parts), capture_output=True)
    assert unzipped.returncode == 0
    assert unzipped.stdout == SQL


def test_compression_is_as_tight_as_gzip_at_its_default_level() -> None:
    ours = GzipReader(io.BytesIO(SQL * 10)).read()
    sql_10 = SQL * 10
    theirs = subprocess.run(["gzip", "-6", "-c"], input=sql_10, capture_output=True).stdout
    assert len(ours) <= len(theirs) * 1.02


def test_an_empty_dump_is_still_a_valid_gzip_stream() -> None:
    assert gzip.decompress(GzipReader(io.BytesIO(b"")).read()) == b""


def test_a_failing_producer_fails_the_reader() -> None:
    class Broken(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer: object) -> int:
            raise OSError("pipe broke")

    reader = GzipReader(io.BufferedReader(Broken()))
    with pytest.raises(OSError, match="pipe broke"):
        reader.read(10)


def test_restores_read_gzip_files_made_by_the_gzip_tool_even_with_several_members() -> None:
    first = subprocess.run(["gzip", "-c"], input=SQL[:1000], capture_output=True).stdout
    second = gzip.compress(SQL[1000:])
    assert b"".join(gunzip_chunks(chunks(first + second, 777))) == SQL


def test_decompressed_pieces_stay_small_however_well_the_data_compresses() -> None:
    zeros = gzip.compress(bytes(50 * 1024 * 1024))
    sizes = [len(piece) for piece in gunzip_chunks(chunks(zeros), max_out=1024 * 1024)]
    assert sum(sizes) == 50 * 1024 * 1024
    assert max(sizes) <= 1024 * 1024


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],  # truncated
        lambda data: data[:100] + bytes([data[100] ^ 0xFF]) + data[101:],  # flipped byte
        lambda data: b"",  # nothing at all
        lambda data: os.urandom(1000),  # not gzip
    ],
)
def test_a_damaged_gzip_stream_is_an_error_not_a_shorter_dump(
    damage: Callable[[bytes], bytes],
) -> None:
    data = gzip.compress(SQL)
    with pytest.raises(CorruptDumpError):
        b"".join(gunzip_chunks(chunks(damage(data))))


def test_a_member_whose_crc_fails_passes_none_of_its_bytes_on() -> None:
    """The restore feeds psql only SQL whose gzip member checked out: a damaged byte in the
    second 1 MiB block stops the stream after the first block, before any of the second."""
    block = 1024 * 1024
    data = GzipReader(io.BytesIO(SQL * 2), block_size=block).read()
    first_member_end = len(gzip_member((SQL * 2)[:block]))
    damaged = bytearray(data)
    damaged[first_member_end + 5000] ^= 0xFF  # inside the second member's deflate data
    received: list[bytes] = []
    with pytest.raises(CorruptDumpError):
        for piece in gunzip_chunks(chunks(bytes(damaged), 4096), max_out=64 * 1024):
            received.append(piece)
    assert b"".join(received) == (SQL * 2)[:block]


def test_a_single_huge_member_is_passed_on_once_the_hold_limit_is_reached() -> None:
    """A plain `pg_dump | gzip` file is one member: it is not held whole in memory."""
    data = gzip.compress(SQL * 4)  # about 35 MB of SQL in one member
    pieces = chunks(data)
    consumed = 0

    def counted() -> Iterator[bytes]:
        nonlocal consumed
        for piece in pieces:
            consumed += 1
            yield piece

    stream = gunzip_chunks(counted(), max_out=256 * 1024, max_hold=2 * 1024 * 1024)
    first = next(stream)
    assert 0 < len(first) <= 256 * 1024
    assert consumed < len(pieces) / 2  # passed on long before the member's end
    assert b"".join([first, *stream]) == SQL * 4
