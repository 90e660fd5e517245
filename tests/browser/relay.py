"""A TCP relay between Chromium and the app server that can cut every connection at once, as a
classroom's Wi-Fi does: the browser's websocket drops and Streamlit's frontend reconnects through the
relay to the same session."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

from deploy import appserver


class _Relay:
    def __init__(self, port: int):
        self.port = port
        self.streams: set[asyncio.StreamWriter] = set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError:
            writer.close()
            return
        self.streams |= {writer, upstream}
        await asyncio.gather(self.pipe(reader, upstream), self.pipe(upstream_reader, writer))
        self.streams -= {writer, upstream}

    @staticmethod
    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    def cut(self) -> None:
        """Every open connection, both ends, at once (a reset, not a goodbye)."""
        for writer in list(self.streams):
            writer.transport.abort()
        self.streams.clear()


@contextlib.contextmanager
def relay(url: str) -> Iterator[tuple[str, Callable[[], None]]]:
    """(the relay's URL for the server at `url`, a function that cuts every connection through it)."""
    target = _Relay(urlsplit(url).port)
    port = appserver.free_port()
    loop = asyncio.new_event_loop()
    started, stop = threading.Event(), asyncio.Event()

    async def serve() -> None:
        server = await asyncio.start_server(target.handle, "127.0.0.1", port)
        started.set()
        await stop.wait()
        server.close()
        target.cut()
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield f"http://127.0.0.1:{port}", lambda: loop.call_soon_threadsafe(target.cut)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()
