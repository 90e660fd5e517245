"""A light Streamlit client that speaks the browser's websocket protocol, for classroom-sized loads.

A browser costs a core of its own to draw a lab's charts, so 30 of them cannot share a 2-core machine
with the server they measure. This client does what the server sees a browser do, and nothing more: it
opens the websocket at /_stcore/stream, asks for a page (a BackMsg `rerun_script` with the page's
script hash and query string), clicks a button (a rerun whose widget states hold the button's
trigger), and reruns a fragment every `interval` seconds after the server's `auto_rerun` message, as
the frontend's timer does, until `stop_auto_rerun` or the next full run. Like the browser it keeps the
large elements the server marks cacheable, names them in every rerun it asks for, and reads the server's
references to them (an unchanged chart is sent as its hash: see ForwardMsgCache in Streamlit's
frontend; without this the server sent every unchanged chart again, which no browser makes it do). It
decodes every ForwardMsg
(protobuf, as the browser does) and keeps the page's elements by their delta path, so a button is
found by its label and the live view's status line ("Step 120 of 400 · playing ...") is read like a
person reads it. It never draws: what it costs is decoding.

The server must run with `--server.enableXsrfProtection false` (the browser sends a token from a
cookie; this client does not).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import time

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

STEP = re.compile(r"step ([\d,]+) of ([\d,]+)", re.IGNORECASE)


@dataclasses.dataclass
class Element:
    kind: str  # "button", "markdown", "plotly_chart", ...
    text: str  # a button's label, a markdown body
    id: str  # a widget's id ("" for other elements)


@dataclasses.dataclass
class Redraw:
    at: float  # time.monotonic() when the fragment's run finished
    status: str  # the status line it drew
    nbytes: int  # bytes the server sent for it


class Session:
    """One student's tab: a websocket, the page's elements, the live view's redraws."""

    def __init__(self, url: str, page_hash: str, query: str = ""):
        self.url, self.page_hash, self.query = url, page_hash, query
        self.elements: dict[tuple[int, ...], Element] = {}
        self.redraws: list[Redraw] = []
        self.status = ""
        self.progress: tuple[int, int] | None = None  # (the slowest run's step, its total), last seen
        self.full_runs = 0  # whole-page script runs that finished
        self.bytes_in = 0
        self.errors: list[str] = []  # exceptions the page showed (Streamlit's own error element)
        self.closed = False
        self._ws = None
        self._reader: asyncio.Task | None = None
        self._timers: dict[str, asyncio.Task] = {}
        self._run_bytes = 0
        self._finished = asyncio.Event()
        # the frontend's message cache: hash -> [the message's bytes, the run that last used it, its fragment]
        self._cache: dict[str, list] = {}
        self._runs_done = 0
        self._max_age = 2  # runs an unused message stays (the server's global.maxCachedMessageAge)
        self._run_fragments: list[str] = []  # the fragments the run under way reruns ([]: the whole page)

    async def open(self) -> None:
        self._ws = await websockets.connect(
            self.url, subprotocols=["streamlit"], max_size=None, open_timeout=60, ping_interval=None
        )
        self._reader = asyncio.create_task(self._read())
        await self.rerun()

    async def close(self) -> None:
        for task in self._timers.values():
            task.cancel()
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        self.closed = True

    # ---- what a person does ------------------------------------------------------------

    async def rerun(self, trigger: str | None = None, fragment: str | None = None, wait: bool = True) -> None:
        """A page run (a click on `trigger`, a widget id), or a fragment's; waits for the run to end."""
        msg = BackMsg()
        rerun = msg.rerun_script
        rerun.query_string = self.query
        rerun.page_script_hash = self.page_hash
        if trigger is not None:
            widget = rerun.widget_states.widgets.add()
            widget.id = trigger
            widget.trigger_value = True
        if fragment is not None:
            rerun.fragment_id = fragment
            rerun.is_auto_rerun = True
        rerun.cached_message_hashes.extend(self._cache)
        if wait:
            self._finished.clear()
        await self._ws.send(msg.SerializeToString())
        if wait:
            await asyncio.wait_for(self._finished.wait(), 120)

    def button(self, label: str) -> str:
        """The widget id of the button labelled `label` on the page drawn last."""
        for element in self.elements.values():
            if element.kind == "button" and element.text == label:
                return element.id
        raise LookupError(f"no button {label!r} on the page")

    async def click(self, label: str) -> None:
        await self.rerun(trigger=self.button(label))

    @property
    def finished(self) -> bool:
        return self.status.startswith(("Finished", "Stopped"))

    # ---- the frontend's side -----------------------------------------------------------

    async def _every(self, fragment: str, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await self.rerun(fragment=fragment, wait=False)

    async def _read(self) -> None:
        try:
            async for raw in self._ws:
                self.bytes_in += len(raw)
                self._run_bytes += len(raw)
                msg = ForwardMsg()
                msg.ParseFromString(raw)
                self._handle(self._from_cache(msg, raw))
        except websockets.ConnectionClosed:
            pass
        self.closed = True
        self._finished.set()

    def _from_cache(self, msg: ForwardMsg, raw: bytes) -> ForwardMsg:
        """The message itself, or the cached one a reference names (with the reference's metadata);
        a cacheable message is kept, as the browser keeps it."""
        if msg.WhichOneof("type") == "ref_hash":
            entry = self._cache[msg.ref_hash]  # a miss is a bug (the browser says so too)
            entry[1] = self._runs_done
            full = ForwardMsg()
            full.ParseFromString(entry[0])
            full.metadata.CopyFrom(msg.metadata)
            return full
        if msg.metadata.cacheable and msg.hash:
            if msg.hash in self._cache:
                self._cache[msg.hash][1] = self._runs_done
            else:
                self._cache[msg.hash] = [raw, self._runs_done, msg.delta.fragment_id]
        return msg

    def _run_ended(self) -> None:
        """A run finished: cached messages of what it ran that went unused for _max_age runs go."""
        self._runs_done += 1
        for key, (_, used, fragment) in list(self._cache.items()):
            if self._run_fragments and fragment not in self._run_fragments:
                continue  # a fragment's run ages only that fragment's messages
            if self._runs_done - used > self._max_age:
                del self._cache[key]

    def _handle(self, msg: ForwardMsg) -> None:
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            self._run_fragments = list(msg.metadata.run.fragment_ids)
            if msg.new_session.HasField("config"):
                self._max_age = msg.new_session.config.max_cached_message_age
            if not msg.metadata.run.fragment_ids:  # a whole-page run: the page sets its timers again
                for task in self._timers.values():
                    task.cancel()
                self._timers.clear()
        elif kind == "delta":
            self._delta(tuple(msg.metadata.delta_path), msg)
        elif kind == "auto_rerun":
            fragment = msg.auto_rerun.fragment_id
            if fragment in self._timers:
                self._timers[fragment].cancel()
            self._timers[fragment] = asyncio.create_task(self._every(fragment, msg.auto_rerun.interval))
        elif kind == "stop_auto_rerun":
            for fragment in msg.stop_auto_rerun.fragment_ids:
                if (task := self._timers.pop(fragment, None)) is not None:
                    task.cancel()
        elif kind == "script_finished":
            if msg.script_finished == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                return  # another run of the page follows: wait for that one
            if msg.script_finished == ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY:
                self.redraws.append(Redraw(time.monotonic(), self.status, self._run_bytes))
            else:
                self.full_runs += 1
            self._run_ended()
            self._run_bytes = 0
            self._finished.set()

    def _delta(self, path: tuple[int, ...], msg: ForwardMsg) -> None:
        delta = msg.delta
        if delta.WhichOneof("type") != "new_element":
            return
        element = delta.new_element
        kind = element.WhichOneof("type")
        body = getattr(element, kind)
        text = getattr(body, "body", "") or getattr(body, "label", "") or ""
        if kind == "exception":
            self.errors.append(f"{body.type}: {body.message}")
        self.elements[path] = Element(kind, text, getattr(body, "id", "") or "")
        if kind == "markdown" and (STEP.search(text) or text.startswith(("Finished", "Stopped"))):
            self.status = text
            if found := STEP.findall(text):
                self.progress = min((int(a.replace(",", "")), int(b.replace(",", ""))) for a, b in found)


async def page_hashes(url: str) -> dict[str, str]:
    """url path ("gradients"; "" for the home page) -> page script hash, from the navigation message."""
    async with websockets.connect(url, subprotocols=["streamlit"], max_size=None, open_timeout=60) as ws:
        msg = BackMsg()
        msg.rerun_script.query_string = ""
        await ws.send(msg.SerializeToString())
        pages: dict[str, str] = {}
        async for raw in ws:
            fwd = ForwardMsg()
            fwd.ParseFromString(raw)
            kind = fwd.WhichOneof("type")
            if kind == "navigation":  # the last one the run sends is the app's own (st.navigation)
                pages = {page.url_pathname: page.page_script_hash for page in fwd.navigation.app_pages}
            elif kind == "script_finished" and fwd.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                break
    if not pages:
        raise RuntimeError("the server sent no navigation")
    return pages
