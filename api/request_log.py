"""``api.request_log``: one row per call, refused ones included, queued before the answer is sent and
written in batches.

A call's row enters an in-process queue when its status is known (before the answer goes out); a
background task COPYs whatever has queued every ``interval`` seconds, in one transaction, instead of one
insert and commit per call (a second database round trip on every request). The window a crash of
the server process can lose is that interval; shutdown writes what is queued. When the warehouse
cannot take the rows they stay queued (up to ``max_queued``, then the oldest are dropped and counted
in the server log) and are tried again. Changes made through the API are not in this path: they are
recorded in ``audit.events`` in their own transaction.
"""

from __future__ import annotations

import asyncio
import collections
import logging

log = logging.getLogger(__name__)

COLUMNS = ("token_id", "client", "method", "path", "query", "status", "duration_ms", "remote_addr")


class RequestLogWriter:
    def __init__(self, pool, *, interval: float = 0.02, max_queued: int = 100_000):
        self._pool = pool
        self._interval = interval
        self._queue: collections.deque[tuple] = collections.deque(maxlen=max_queued)
        self._dropped = 0
        self._task: asyncio.Task | None = None
        self._stopping = False
        self._wake = asyncio.Event()

    def add(self, entry: tuple) -> None:
        if len(self._queue) == self._queue.maxlen:
            self._dropped += 1
        self._queue.append(entry)
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="api.request_log writer")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
        await self.flush()

    async def flush(self) -> int:
        """Write everything queued now; returns the rows written."""
        if not self._queue:
            return 0
        batch = [self._queue.popleft() for _ in range(len(self._queue))]
        try:
            async with self._pool.connection() as conn, conn.transaction():
                cursor = conn.cursor()
                async with cursor.copy(f"copy api.request_log ({', '.join(COLUMNS)}) from stdin") as copy:
                    for entry in batch:
                        await copy.write_row(entry)
        except Exception:
            log.exception("could not write %s api.request_log rows; keeping them for the next try", len(batch))
            self._queue.extendleft(reversed(batch))
            return 0
        if self._dropped:
            log.error("api.request_log queue overflowed: %s rows dropped", self._dropped)
            self._dropped = 0
        return len(batch)

    async def _run(self) -> None:
        while not self._stopping:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(self._interval)  # let the batch fill
            if not await self.flush() and self._queue:
                await asyncio.sleep(1.0)  # the warehouse refused: back off before the next try
