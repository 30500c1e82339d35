"""gzip in-process: compressing a stream with read-ahead, decompressing one in bounded pieces."""

from __future__ import annotations

import queue
import threading
import zlib
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO

GZIP_LEVEL = 6  # gzip's own default, the level of a plain `pg_dump | gzip`
BLOCK_SIZE = 1024 * 1024
_GZIP_CONTAINER = 31  # zlib wbits for a gzip header and trailer, readable by `gunzip`
_Item = Future[bytes] | BaseException | None


def gzip_member(data: bytes, level: int = GZIP_LEVEL) -> bytes:
    """One complete gzip member; members written one after another form a valid gzip file."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, _GZIP_CONTAINER)
    return compressor.compress(data) + compressor.flush()


class GzipReader:
    """Reads `raw` to its end and hands out a gzip stream of it through `read(size)`.

    Like pigz, blocks of `block_size` are compressed as separate gzip members on `threads`
    threads (zlib works outside the GIL), which `gunzip` and restores read as one stream. A
    reader thread keeps the producer (pg_dump) writing meanwhile. Memory is bounded by about
    2 * threads + 1 blocks plus two `read`s worth of output.
    """

    def __init__(
        self,
        raw: IO[bytes],
        *,
        level: int = GZIP_LEVEL,
        block_size: int = BLOCK_SIZE,
        threads: int = 2,
    ) -> None:
        self._raw = raw
        self._level = level
        self._block_size = block_size
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="gzip")
        self._queue: queue.Queue[_Item] = queue.Queue(maxsize=2 * threads)
        self._buffer = bytearray()
        self._members = 0
        self._eof = False
        self._stop = threading.Event()
        self.raw_bytes = 0
        self._thread = threading.Thread(target=self._pump, name="dump-reader", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        try:
            while not self._stop.is_set():
                block = self._raw.read(self._block_size)
                if not block:
                    break
                self.raw_bytes += len(block)
                self._put(self._pool.submit(gzip_member, block, self._level))
            self._put(None)
        except BaseException as exc:  # handed to the consumer, which raises it
            self._put(exc)

    def _put(self, item: _Item) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def read(self, size: int = -1, /) -> bytes:
        while not self._eof and (size < 0 or len(self._buffer) < size):
            item = self._queue.get()
            if item is None:
                if self._members == 0:
                    self._buffer += gzip_member(b"", self._level)  # still a valid (empty) gzip
                self._eof = True
            elif isinstance(item, BaseException):
                raise item
            else:
                self._buffer += item.result()
                self._members += 1
        if size < 0 or size >= len(self._buffer):
            out = bytes(self._buffer)
            self._buffer.clear()
            return out
        with memoryview(self._buffer) as view:
            out = bytes(view[:size])
        del self._buffer[:size]
        return out

    def close(self) -> None:
        """Stop reading ahead; the producer must already have ended or been killed."""
        self._stop.set()
        self._thread.join(timeout=10)
        self._pool.shutdown(wait=True, cancel_futures=True)


class CorruptDumpError(ValueError):
    """The bytes are not a complete gzip stream."""


def gunzip_chunks(
    chunks: Iterable[bytes],
    *,
    max_out: int = 4 * 1024 * 1024,
    max_hold: int = 8 * 1024 * 1024,
) -> Iterator[bytes]:
    """Decompress a gzip stream (several members allowed, as `gunzip` does) chunk by chunk.

    A member's output is held back until its trailer (CRC-32 and length) has been checked, up to
    `max_hold` bytes: the dumps `backup create` writes are 1 MiB members, so a corrupted byte in
    one never reaches the consumer. Larger members (a plain `pg_dump | gzip` file is one member)
    are passed on in pieces of at most `max_out` bytes once `max_hold` is reached.
    """
    inflater = zlib.decompressobj(_GZIP_CONTAINER)
    held: list[bytes] = []
    held_bytes = 0
    started = False
    try:
        for chunk in chunks:
            data = chunk
            while data:
                if inflater.eof:  # the next gzip member follows
                    inflater = zlib.decompressobj(_GZIP_CONTAINER)
                started = True
                out = inflater.decompress(data, max_out)
                if out:
                    held.append(out)
                    held_bytes += len(out)
                if inflater.eof or held_bytes >= max_hold:
                    yield from held
                    held.clear()
                    held_bytes = 0
                data = inflater.unused_data if inflater.eof else inflater.unconsumed_tail
    except zlib.error as exc:
        raise CorruptDumpError(f"not a valid gzip stream: {exc}") from exc
    if not started or not inflater.eof:
        raise CorruptDumpError("the gzip stream is truncated")
    yield from held
