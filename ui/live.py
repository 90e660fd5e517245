"""The live engine's page side: Play / Pause / Step / Reset and a speed, sent to the session's worker
as commands, and a view that redraws the worker's snapshot at a steady cadence while a run plays.

The page never trains: core.live.LiveWorker does, in its own thread. A redraw is an
st.fragment that reruns every REDRAW_SECONDS while anything plays; it only reads a snapshot, so
its cost does not slow training down, and a click reruns the page at once (nothing in the script
run is busy training). When the runs stop, the fragment reruns the whole page once, so the
buttons and the other tabs show the end.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
import typing
from collections.abc import Callable, Iterable, Iterator, Sequence

import streamlit as st

from core import remote
from core.charts import binned
from core.engines import training_load
from core.live import LEFT, SCHEDULER, SPEED_LABELS
from core.snapshots import Before, RunGone, Snapshot
from core.training import Status
from ui.charts import in_place
from ui.controls import kept_choice, lab_key
from ui.runs import session_worker

REDRAW_SECONDS = 0.5  # two redraws a second while a run plays
BUSY_REDRAW_SECONDS = 1.0  # one a second while the server is busy (see redraw_every)
CADENCE_HOLD_SECONDS = 5.0  # a page changes its cadence at most this often
SLOW_PANEL_SECONDS = 2.0  # heatmaps, decision grids, feature maps, forecasts: made anew at most this often
DRAWING_AT_ONCE = 2  # live pages of this server that draw at the same moment (see turn_to_draw)
DRAW_WAIT_SECONDS = 3.0  # a page that waited this long for its turn draws anyway
_DRAWING = threading.BoundedSemaphore(DRAWING_AT_ONCE)
log = logging.getLogger(__name__)
T = typing.TypeVar("T")


def leave_other_pages(url_path: str) -> None:
    """The router's call before a page runs: labs shown on another page pause (nothing trains for nobody)."""
    st.session_state["live:page"] = url_path
    for lab, page in st.session_state.get("live:pages", {}).items():
        if page != url_path and (worker := st.session_state.get(lab_key(lab, "worker"))) is not None:
            worker.pause(note=LEFT)


def shown_here(lab: str) -> None:
    """Remember that this lab's runs are shown on the page now running (see leave_other_pages)."""
    st.session_state.setdefault("live:pages", {})[lab] = st.session_state.get("live:page")


def transport(lab: str) -> Sequence:
    """The Play, Pause, Step and Reset buttons and the speed; returns a container just below them."""
    worker = session_worker(lab)
    snap = worker.snapshot()
    st.session_state[lab_key(lab, "buttons_playing")] = (
        snap.playing
    )  # live_view redraws the page if this goes stale
    # keyed: on a phone ui.charts.PHONE_CSS keeps the four buttons on one row instead of a stack
    cols = st.container(key="transport").columns([1, 1, 1, 1, 2.6], vertical_alignment="center")
    common = dict(width="stretch")
    cols[0].button(
        "Play",
        icon=":material/play_arrow:",
        type="primary",
        **common,
        disabled=snap.playing or snap.finished or not snap.runs,
        on_click=worker.play,
    )
    cols[1].button(
        "Pause", icon=":material/pause:", **common, disabled=not snap.playing, on_click=worker.pause
    )
    cols[2].button(
        "Step",
        icon=":material/skip_next:",
        **common,
        disabled=snap.finished or not snap.runs,
        on_click=worker.step,
    )
    cols[3].button("Reset", icon=":material/restart_alt:", **common, on_click=worker.reset)
    speed = kept_choice(
        cols[4], "Speed", SPEED_LABELS, lab_key(lab, "speed"), snap.speed,
        help="How fast the runs train: Normal tells a preset's story in about 20 s, Slow in a minute, "
        "Fast in about 6 s; Flat out trains as fast as this machine can. Change it while a run plays.",
    )  # fmt: skip
    worker.set_speed(speed)  # every page run: a change, or a speed a link or a test put in the session
    return st.container()


def status_line(snap: Snapshot) -> str:
    """Where the runs stand, and at what pace."""
    if not snap.runs:
        return "No run: the settings could not be built."
    if snap.finished:
        diverged = any(run.status is Status.DIVERGED for run in snap.runs.values())
        ended = "Stopped: a run diverged" if diverged else "Finished"
        return f"{ended}. Press **Reset** to train again from the same start."
    steps = {label: f"step {run.step:,} of {run.cfg.train.steps:,}" for label, run in snap.runs.items()}
    if len(set(steps.values())) == 1:
        where = next(iter(steps.values())).capitalize()
    else:
        where = " · ".join(f"{label}: {text}" for label, text in steps.items())
    if not snap.playing:
        return f"{where} · paused"
    if snap.waiting:
        return (
            f"{where} · waiting for a place: the server is busy, and your runs are {ordinal(snap.waiting)} "
            "in line. They start by themselves."
        )
    speed = SPEED_LABELS[snap.speed]
    if snap.achieved is None:
        pace = f"{snap.rate:.3g} steps a second" if snap.rate else "as fast as this machine trains"
        return f"{where} · playing at {speed} speed ({pace})"
    text = f"{where} · playing at {speed} speed, {snap.achieved:.3g} steps a second"
    if snap.rate and snap.achieved < 0.8 * snap.rate:
        text += f" (as fast as this machine goes: {speed} asks for {snap.rate:.3g})"
    return text


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def server_load() -> None:
    """For the teacher, in the sidebar: how many labs train on this server now, and how many wait."""
    active, waiting, _ = training_load(SCHEDULER.load)
    if active or waiting:
        text = f"This server trains {active} lab{'s' if active != 1 else ''} now"
        st.caption(text + (f"; {waiting} wait for a place." if waiting else "."))


def event_sentences(snap: Snapshot) -> list[str]:
    """One sentence per run that a change of settings replaced, saying what changed and when."""
    several = len(snap.runs) > 1
    out = []
    for before in snap.befores.values():
        if before.change:
            who = f"{before.label}: you" if several else "You"
            out.append(
                f"{who} changed {before.change} at step {before.step:,}, so the run started again from "
                "step 0. The faded grey line is the run before the change."
            )
    if any(not before.change for before in snap.befores.values()):
        out.append("The others started again from step 0 too, so every run stays in step (faded: before).")
    return out


def before_lines(
    befores: Iterable[Before], field: str, several: bool, source: str = "evals"
) -> dict[str, tuple[list, list]]:
    """Chart name -> (steps, values) of `field` in each replaced run's `source` ("evals" or "records"),
    averaged down like any long line, for core.charts.with_events."""
    lines = {}
    for b in befores:
        rows = getattr(b, source)
        name = f"{b.label} before" if several else "before the change"
        lines[name] = binned([r.step for r in rows], [getattr(r, field) for r in rows])
    return lines


def slow_panel(key: str, snap: Snapshot, step: int, make: Callable[[], T]) -> T:
    """What make() returns, made anew at most every SLOW_PANEL_SECONDS while a run plays, and at most
    one slow panel per redraw, the one made longest ago, so that their repaints take turns.

    A chart drawn again unchanged costs the browser nothing, while each changed one costs it a
    repaint of 0.1-0.5 s in headless Chromium on a busy 2-core machine (one 3,000-point line redrawn
    every 0.4 s kept its main thread busy ~3 s of every 6; the same figure unchanged ~0.5 s; five
    charts changed at once froze it for 1-1.4 s), and the model read behind a panel waits for the
    worker's lock. Paused, finished, or for a run that started again (its step went back), the
    panel is always fresh.
    """
    cache = st.session_state.setdefault("live:panels", {})  # key -> (made when, at step, value)
    seen = st.session_state.setdefault("live:seen", {})  # key -> the last redraw that drew it
    now = time.monotonic()
    redraw = st.session_state.get("live:redraw", 0)
    seen[key] = redraw
    made, made_step, value = cache.get(key, (-math.inf, math.inf, None))
    for old in [k for k, r in seen.items() if r < redraw - 20]:  # panels no longer drawn: free them
        del seen[old]
        cache.pop(old, None)
    shown = [k for k, r in seen.items() if r >= redraw - 1]  # this page's panels
    oldest = min(shown, key=lambda k: cache.get(k, (-math.inf,))[0])
    due = now - made >= SLOW_PANEL_SECONDS and key == oldest and st.session_state.get("live:turn") != redraw
    if snap.playing and step >= made_step and value is not None and not due:
        return value
    if snap.playing:
        st.session_state["live:turn"] = redraw  # this redraw's one slow repaint is taken
    value = make()
    cache[key] = (now, step, value)
    return value


@contextlib.contextmanager
def turn_to_draw() -> Iterator[float]:
    """Wait for one of DRAWING_AT_ONCE places to draw a live page in; yields the seconds waited.

    Every Streamlit session draws in a thread of its own, and drawing is Python under one interpreter
    lock: 30 live pages drawing at once only took turns at it, hundreds of times a redraw, each switch
    a wake-up of the OS, and queued on Streamlit's configuration lock, which it takes for every element
    it sends (py-spy on a class of 30: six page threads waiting on that lock on average, 0.09 redraws a
    second for each page). In turns, a redraw runs through without those switches. A click's full run
    of a page never waits here; a page that waited DRAW_WAIT_SECONDS draws anyway (a redraw stuck on a
    slow engine holds no one up for longer).
    """
    start = time.perf_counter()
    got = _DRAWING.acquire(timeout=DRAW_WAIT_SECONDS)
    try:
        yield time.perf_counter() - start
    finally:
        if got:
            _DRAWING.release()


def redraw_every() -> float:
    """The live view's cadence: twice a second, once a second while this server is busy (several labs
    play on it and ask for half its time or more, or some wait for a place), and less often when the
    pages' redraws alone would take more than the server can give them (Scheduler.redraw_seconds), so
    that the class's pictures never take the time its training and its clicks need. A lab playing
    alone keeps two redraws a second whatever its own demand: its pictures take time from no one else
    (the Vanishing-vs-cured pair asks for 0.4-0.6 of a thread here, and at 0.5 its page fell to one)."""
    active, waiting, share = training_load(SCHEDULER.load)
    busy = BUSY_REDRAW_SECONDS if waiting or (active > 1 and share >= 0.5) else REDRAW_SECONDS
    return max(busy, SCHEDULER.redraw_seconds(extra=remote.draw_seconds()))


def _draw_snapshot(lab: str, snap: Snapshot, draw: Callable[[Snapshot], None]) -> None:
    """The live view's body: the status line, the worker's sentences, then draw(snap)."""
    st.session_state["live:redraw"] = st.session_state.get("live:redraw", 0) + 1
    st.caption(status_line(snap))
    if snap.error:
        st.error(snap.error)
    if snap.note:
        st.info(snap.note)
    for sentence in event_sentences(snap):
        st.caption(sentence)
    try:
        with in_place():  # redrawn twice a second: the browser updates these charts, not rebuilds them
            draw(snap)
    except RunGone:  # a click changed the runs (in a live engine) while this redraw read them
        log.debug("a %s run went during a redraw; the page's next run draws the runs as they are", lab)
    except Exception:
        log.exception("could not draw the %s runs", lab)
        st.error("These runs could not be drawn; press Reset or choose other settings.")


def live_view(lab: str, draw: Callable[[Snapshot], None]) -> None:
    """Draw the worker's snapshot; while a run plays, redraw every REDRAW_SECONDS from a fresh one.

    draw(snapshot) draws every chart once (fixed keys: each redraw replaces the last one). A chart
    that cannot be drawn gives one sentence; the trace goes to the server log. An error inside
    training comes from the worker as one sentence and leaves the runs paused.
    """
    worker = session_worker(lab)
    shown_here(lab)
    run_every = redraw_every() if worker.snapshot().playing else None
    # whether the buttons above were drawn for runs that play (None: this page draws none); when the
    # runs stop, or start (a change mid-run rebuilt a run while the buttons were drawn), the whole page
    # runs again, so that Pause is never lit for runs that stopped, nor dark for runs that play
    drawn = st.session_state.pop(lab_key(lab, "buttons_playing"), None)
    if run_every:  # Streamlit's "Running… Stop" corner would flicker at every redraw, in front of a class
        st.html("<style>[data-testid='stStatusWidget'] {visibility: hidden}</style>")

    @st.fragment(run_every=run_every)
    def live() -> None:
        started = time.perf_counter()  # wall time, GIL waits included: a busy server's redraws count more
        started_cpu = time.thread_time()
        snap = worker.snapshot()
        with turn_to_draw() as waited:
            _draw_snapshot(lab, snap, draw)
        if run_every:  # the wait for a turn is not the redraw's cost
            spent = time.perf_counter() - started - waited
            worker.drew(spent, run_every, cpu=time.thread_time() - started_cpu)
        if (run_every or drawn) and not snap.playing:
            st.rerun()  # the runs stopped: the whole page once more, for its buttons and other tabs
        if drawn is False and snap.playing:
            st.rerun()  # the buttons say "paused" while the runs play: the page again, for Pause
        if run_every and redraw_every() != run_every:  # the server got busy, or quiet: the page takes
            changed = st.session_state.get(lab_key(lab, "cadence_at"), 0.0)  # up the new cadence, at most
            if time.monotonic() - changed > CADENCE_HOLD_SECONDS:  # once in CADENCE_HOLD_SECONDS
                st.session_state[lab_key(lab, "cadence_at")] = time.monotonic()
                st.rerun()

    live()
