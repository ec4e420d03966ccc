"""A loopback TCP proxy that can be switched to a silent network: while it is "dark", bytes in
either direction are held (not refused, not reset), and new connections are accepted but not
passed on, as when a link drops packets and TCP keeps retransmitting. When it passes traffic
again, held bytes flow on. A connection closed at one end is closed at the other."""

from __future__ import annotations

import asyncio
import contextlib


class BlackholeProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.light = asyncio.Event()
        self.light.set()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def dark(self) -> None:
        self.light.clear()

    def lit(self) -> None:
        self.light.set()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in tuple(self._writers):
            writer.close()
        for task in tuple(self._tasks):
            task.cancel()
        for task in tuple(self._tasks):
            with contextlib.suppress(BaseException):
                await task

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        upstream_writer: asyncio.StreamWriter | None = None
        try:
            await self.light.wait()  # a connection made in the dark waits in silence
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
            self._writers.add(upstream_writer)
            await asyncio.gather(
                self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer)
            )
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            for each in (writer, upstream_writer):
                if each is not None:
                    each.close()
                    self._writers.discard(each)
            self._tasks.discard(task)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await self.light.wait()
                data = await reader.read(65536)
                if not data:
                    break
                await self.light.wait()  # read in the light, then the link went dark: held
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()
