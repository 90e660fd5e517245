"""What the live engine costs and how it feels: pause latency, training throughput, redraws.

    python -m bench.live

core.live.LiveWorker is the one thread that steps a session's runs; the page sends it commands and
draws its snapshots. Four measurements, on the CPU with one torch thread (the app's
GP_TORCH_THREADS=1):

(a) Pause latency, worst case: the worker plays flat out ("max" speed, no pacing) and, after a
    random 50-300 ms, the main thread calls pause(). Per try: how long pause() took to return
    (it waits for the worker's lock, which the worker holds for one round of steps or one piece
    of an evaluation), how many
    steps happened between the call and its return (1 is the step under way; 2 means the worker
    took its lock back before the waiting pause() got it), how many after it returned (must be 0),
    and how long until the worker's thread had ended (wait_idle). Steps are read without the lock
    (len(records); a step appends its record after its backward pass, and a CNN step that ends
    with an evaluation appends it before the evaluation). Two runs: the Gradients lab's heaviest
    MLP (depth 20 x width 256, batch 256, 3000 steps, spiral) and the Images lab's default CNN
    (ImageRunConfig(): MNIST, 300 per class, the 750 test images evaluated every 50 steps in 7 pieces
    of up to 113 images, a pause landing between two). TRIES tries each, on one run that plays on from
    where it paused.

(b) `live_overhead_ratio`: a fresh run trained N steps by a bare loop `run.advance(1,
    max_seconds=inf)` in the main thread against a fresh run of the same config (same seed) trained
    N steps by the worker at "max" speed (play, wait_idle) while a reader thread takes a snapshot
    every READ_EVERY_S (a little more often than the page's 0.5 s). A diagnostic third path runs the
    bare loop in a plain thread of its own: thread / bare is what moving training off the main
    thread costs, worker / thread what the worker itself adds. Runs are built before the clock
    starts; the worker's clock includes starting its thread. An untimed warm-up round checks that
    the three paths give exactly the same loss at every step. ROUNDS rounds; bare and worker run
    back to back, each first in half the rounds, the diagnostic before or after them. Per round
    the ratio is worker time / bare time on the wall clock (the worker's cost could be idle
    hand-offs that CPU time would not see); the process's CPU time (all threads) is printed beside
    it. Two cases: the Gradients lab's Vanishing preset (400 steps, evaluated and probed every 10)
    and the Images lab's Small CNN preset (100 steps, evaluations at 50 and 100). The headline is
    the MLP case's median. Also the cost of one snapshot() of an idle worker whose run holds 3,000
    records, and of the reader's snapshots while the worker plays (they wait for the round under
    way).

(c) Redraws in a browser: `streamlit run app.py` on 127.0.0.1 with GP_SPEED=normal, headless
    Debian Chromium driven by Playwright opens /gradients, clicks the preset "Vanishing vs cured"
    (2 runs x 400 steps, about 20 s at "normal"), then Play. Page JavaScript polls every 50 ms for
    the status caption ("Step ... playing at ...") and timestamps each change of its text:
    redraws per second over REDRAW_WINDOW_S from the first change, the gaps between redraws, the
    steps a second the captions show, and the time from the click until the caption says the runs
    stopped ("Finished", or paused early, e.g. by the worker's "nobody was watching" timeout). A
    PerformanceObserver collects the page's long tasks (main thread busy > 50 ms) from Play to the
    end; Playwright counts the websocket bytes the server sent; /proc gives the CPU time of the
    server (its training included) and of the browser (Chromium and Playwright's driver) over the
    same span. Skipped, with a line saying so, when Chromium or Playwright is missing.

(d) The run budget (core.training: RUN_BYTES, ROUND_MACS, EVAL_MACS, PIECE_MACS): legal runs at its
    edges, each in a fresh process of its own (EDGES says how they were found): the bytes of its data
    (made once for every session), then the growth of the process's peak resident memory (VmHWM,
    reset through /proc/self/clear_refs once the data is made) while the run is built, trains and
    evaluates, the time to build the run (its step-0 evaluation included), the median time of a
    round of steps (one step of every run, evaluations aside), one whole evaluation and its longest
    piece (the Sequences forecasts included, as the page asks for them), and 10 pauses by a worker
    playing flat out, each called a random 0-50 ms after an evaluation began: how long pause() took
    and whether it landed inside the evaluation.

The last line is `pause_ms_p50=... pause_ms_max=... live_overhead_ratio=... redraws_per_s=...`
(pause figures over both runs of (a)).
"""

from __future__ import annotations

import dataclasses
import gc
import itertools
import json
import math
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import torch

from core.budget import data_bytes
from core.cnn import CNNConfig
from core.config import ModelConfig, RunConfig, TrainConfig, from_values
from core.data.catalog import DATASETS, IMAGE_DATASETS
from core.data.glyphs import GlyphConfig, generate
from core.data.series import SERIES
from core.gradients.presets import GRADIENT_PRESETS, VANISHING
from core.images.presets import DEFAULT as IMAGE_DEFAULT
from core.images.presets import SMALL as IMAGE_SMALL
from core.images.run import ImageDataConfig, ImageRun, ImageRunConfig, ImageTrainConfig
from core.live import LiveWorker
from core.multitask.config import MTTrainConfig, MultiTaskConfig, NetConfig
from core.multitask.run import MultiTaskRun
from core.presets import Preset
from core.sequences.compare import lab_configs
from core.sequences.models import CELLS
from core.sequences.presets import SEQ_BASE, SEQ_PRESETS, SeqPreset
from core.sequences.run import SeqRun
from core.training import Run, Trainer
from deploy import appserver

ROOT = Path(__file__).resolve().parents[1]
CPU = torch.device("cpu")
TRIES = 20
ROUNDS = 6  # cycling through overhead()'s 4 orders: bare and worker each go first in 3
TARGET = 1.10
READ_EVERY_S = 0.4  # the page snapshots every ui.live.REDRAW_SECONDS = 0.5 s while a run plays
SNAPSHOT_RECORDS = 3000
REDRAW_WINDOW_S = 8.0
PRESET_SHORT = "Vanishing vs cured"  # the Gradients lab's preset button (its Preset.short)
SEQ_PRESET_SHORT = "GRU vs LSTM"  # and the Sequences lab's, the page that used to freeze the browser

HEAVY_MLP = RunConfig(model=ModelConfig(depth=20, width=256), train=TrainConfig(steps=3000, batch_size=256))
SNAPSHOT_MLP = RunConfig(
    model=ModelConfig(depth=2, width=8), train=TrainConfig(steps=SNAPSHOT_RECORDS, batch_size=16)
)


def image_steps(cfg, steps: int):
    """An image config trained for `steps` steps, its evaluation cadence kept."""
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, steps=steps))


def worker_of(run: Trainer) -> LiveWorker:
    """A worker flat out holding `run` (built beforehand) under the label "A"."""
    worker = LiveWorker("bench")
    worker.set_speed("max")
    assert worker.sync({"A": run.cfg}, lambda cfg: run) == {}
    return worker


def pct(values: list[float]) -> str:
    return f"median {statistics.median(values):7.1f}  worst {max(values):7.1f}"


# ---- (a) pause latency -------------------------------------------------------------------


@dataclasses.dataclass
class PauseTries:
    pause_ms: list[float] = dataclasses.field(default_factory=list)  # pause() call -> return
    pause_cpu_ms: list[float] = dataclasses.field(default_factory=list)  # CPU this process used meanwhile
    idle_ms: list[float] = dataclasses.field(default_factory=list)  # pause() call -> thread ended
    during: list[int] = dataclasses.field(default_factory=list)  # steps between call and return
    after: list[int] = dataclasses.field(default_factory=list)  # steps after pause() returned
    step_ms: list[float] = dataclasses.field(default_factory=list)  # ms per step while playing


def pause_tries(run: Trainer, rng: random.Random) -> PauseTries:
    worker, out = worker_of(run), PauseTries()
    for _ in range(TRIES):
        if run.step > run.cfg.train.steps - 50:
            worker.reset()
        started, t_play = run.step, time.perf_counter()
        worker.play()
        time.sleep(rng.uniform(0.05, 0.30))
        before = run.step  # read without the lock: len(records); a step appends its record after backward
        t0, c0 = time.perf_counter(), time.process_time()
        worker.pause()
        t1, c1 = time.perf_counter(), time.process_time()
        at_return = run.step
        assert worker.wait_idle(60), "the worker did not stop within 60 s of pause()"
        t2 = time.perf_counter()
        out.pause_ms.append((t1 - t0) * 1000)
        out.pause_cpu_ms.append((c1 - c0) * 1000)
        out.idle_ms.append((t2 - t0) * 1000)
        out.during.append(at_return - before)
        out.after.append(run.step - at_return)
        if at_return > started:
            out.step_ms.append((t1 - t_play) * 1000 / (at_return - started))
    assert [r.step for r in run.records] == list(range(1, run.step + 1)), "records out of order"
    return out


def report_pause(name: str, tries: PauseTries) -> None:
    print(f"  {name}: {TRIES} tries, ~{statistics.median(tries.step_ms):.0f} ms per step while playing")
    print(f"    pause() returned after        ms  {pct(tries.pause_ms)}")
    print(f"    worker thread ended after     ms  {pct(tries.idle_ms)}")
    print(
        f"    steps between call and return    median {statistics.median(tries.during):5.0f}    "
        f"worst {max(tries.during):5d}"
    )
    worst = tries.pause_ms.index(max(tries.pause_ms))
    print(
        f"    the slowest pause(): {tries.pause_ms[worst]:.0f} ms wall, {tries.pause_cpu_ms[worst]:.0f} ms "
        f"of this process's CPU, {tries.during[worst]} step(s) inside it"
    )
    twice = [f"{ms:.0f}" for ms, n in zip(tries.pause_ms, tries.during, strict=True) if n > 1]
    if twice:
        print(f"    tries with 2+ steps inside pause(): {len(twice)}, pause() took (ms): {', '.join(twice)}")
    print(
        f"    steps after pause() returned     median {statistics.median(tries.after):5.0f}    "
        f"worst {max(tries.after):5d}" + ("" if max(tries.after) == 0 else "   <-- PAUSE LANDED LATE"),
        flush=True,
    )


# ---- (b) throughput: bare loop against the worker with a reader -----------------------------


def bare(run: Trainer, reads: list[float]) -> None:
    """The bare loop, in the main thread."""
    for _ in range(run.cfg.train.steps):
        run.advance(1, max_seconds=math.inf)


def thread(run: Trainer, reads: list[float]) -> None:
    """Diagnostic: the bare loop in a plain thread of its own (the worker's thread without the worker)."""
    loop = threading.Thread(target=bare, args=(run, reads), name="bench-bare")
    loop.start()
    loop.join()


def live(run: Trainer, reads: list[float]) -> None:
    """The worker trains the run to its end while a reader takes a snapshot every READ_EVERY_S."""
    worker = worker_of(run)
    stop = threading.Event()

    def reader() -> None:
        while not stop.wait(READ_EVERY_S):
            t = time.perf_counter()
            worker.snapshot()
            reads.append((time.perf_counter() - t) * 1e6)

    page = threading.Thread(target=reader, name="bench-reader")
    page.start()
    worker.play()
    finished = worker.wait_idle(600)
    stop.set()
    page.join()
    assert finished and run.done, "the worker did not train the run to its end"


def timed(path: Callable, make: Callable[[], Trainer], reads: list[float]) -> tuple[float, float, list]:
    """(wall s, CPU s of all threads, losses) of one path on a fresh run."""
    run = make()
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    path(run, reads)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert run.step == run.cfg.train.steps
    return wall, cpu, [r.loss for r in run.records]


def overhead(name: str, make: Callable[[], Trainer]) -> float:
    """Print a case's rates and ratios; return its median wall-clock ratio worker / bare."""
    reads: list[float] = []
    losses = {path: timed(path, make, reads)[2] for path in (bare, live, thread)}  # warm-up
    if not losses[bare] == losses[live] == losses[thread]:
        raise SystemExit(f"{name}: the bare loop and the worker did not train identically")
    reads.clear()
    # bare and live back to back, each first in half the rounds; the diagnostic before or after them
    orders = ((bare, live, thread), (live, bare, thread), (thread, bare, live), (thread, live, bare))
    wall: dict = {path: [] for path in (bare, live, thread)}
    cpu: dict = {path: [] for path in (bare, live, thread)}
    for i in range(ROUNDS):
        for path in orders[i % len(orders)]:
            w, c, _ = timed(path, make, reads)
            wall[path].append(w)
            cpu[path].append(c)
    steps = len(losses[bare])

    def ratios(clock: dict, a, b) -> list[float]:
        return [x / y for x, y in zip(clock[a], clock[b], strict=True)]

    print(
        f"  {name}: steps/s (wall) bare {steps / statistics.median(wall[bare]):.1f}, "
        f"worker {steps / statistics.median(wall[live]):.1f}, "
        f"bare in a thread {steps / statistics.median(wall[thread]):.1f}"
    )
    for a, b, what in (
        (live, bare, "worker / bare"),
        (thread, bare, "thread / bare"),
        (live, thread, "worker / thread"),
    ):
        w, c = ratios(wall, a, b), ratios(cpu, a, b)
        print(
            f"    {what:<16} {statistics.median(w):.3f} wall (CPU {statistics.median(c):.3f})  wall rounds: "
            + " ".join(f"{r:.3f}" for r in w)
        )
    print(
        f"    {len(reads)} snapshots while the worker played, µs: median {statistics.median(reads):,.0f}, "
        f"worst {max(reads):,.0f} (they wait for the round under way)",
        flush=True,
    )
    return statistics.median(ratios(wall, live, bare))


def snapshot_cost() -> float:
    """µs per snapshot() of an idle worker whose run holds SNAPSHOT_RECORDS records (median of 200)."""
    run = Run(SNAPSHOT_MLP, DATASETS.get(SNAPSHOT_MLP.data.name).load(SNAPSHOT_MLP.data), device=CPU)
    run.advance(SNAPSHOT_RECORDS, max_seconds=math.inf)  # not by a worker: unwatched, it would pause
    worker = worker_of(run)
    costs = []
    for _ in range(200):
        t = time.perf_counter()
        snap = worker.snapshot()
        costs.append((time.perf_counter() - t) * 1e6)
    assert len(snap.runs["A"].records) == SNAPSHOT_RECORDS
    cost = statistics.median(costs)
    print(
        f"  snapshot() of an idle worker, one run with {SNAPSHOT_RECORDS:,} records and "
        f"{len(run.evals)} evaluations: median {cost:.0f} µs, worst {max(costs):.0f} µs",
        flush=True,
    )
    return cost


# ---- (c) redraws in a browser --------------------------------------------------------------

LONGTASKS_JS = """
window.__gpLong = [];
try {
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.__gpLong.push([e.startTime, e.duration]);
  }).observe({type: 'longtask', buffered: true});
} catch (e) { window.__gpLong = null; }
"""
POLL_JS = """
() => {
  window.__gpStatus = [];
  window.__gpEnded = false;
  let last = null;
  window.__gpPoll = setInterval(() => {
    for (const el of document.querySelectorAll('[data-testid="stCaptionContainer"]')) {
      const text = el.innerText;
      if (/^(Step |Finished|Stopped)/.test(text)) {
        if (text !== last) { last = text; window.__gpStatus.push([performance.now(), text]); }
        window.__gpEnded = !text.includes('playing at');
        return;
      }
    }
  }, 50);
  return performance.now();
}
"""
END_JS = """
() => { clearInterval(window.__gpPoll); return [window.__gpStatus, window.__gpLong, performance.now()]; }
"""
ENDED_JS = "() => window.__gpEnded && window.__gpStatus.some((s) => s[1].includes('playing at'))"
STEP = re.compile(r"Step ([\d,]+)")


def process_tree() -> dict[int, list[int]]:
    """pid -> its children's pids, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    return children


def descendants(root: int, tree: dict[int, list[int]]) -> set[int]:
    out, todo = set(), [root]
    while todo:
        for child in tree.get(todo.pop(), []):
            out.add(child)
            todo.append(child)
    return out


def cpu_seconds(pids: set[int]) -> float:
    """User + system CPU seconds the living processes among `pids` have used so far."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def browser_redraws(short: str = PRESET_SHORT, lab: str = "gradients") -> float | None:
    """Redraws per second of the status line at "normal" speed on a lab's page (gradients or
    sequences) playing its preset `short`, or None when (c) cannot run."""
    presets = GRADIENT_PRESETS if lab == "gradients" else SEQ_PRESETS
    preset = next(p for p in presets.values() if p.short == short)
    try:  # the browser tests' Chromium and flags (the module needs pytest, a dev requirement)
        from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, VIEWPORT
    except ImportError as err:
        print(f"  (c) skipped: the browser tests' settings are not importable ({err})")
        return None
    if not CHROMIUM.exists():
        print(f"  (c) skipped: {CHROMIUM} is missing (install the Debian 'chromium' package)")
        return None
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError as err:
        print(f"  (c) skipped: playwright is not importable ({err})")
        return None
    port = appserver.free_port()
    log_path = Path(tempfile.gettempdir()) / f"bench-live-streamlit-{port}.log"
    proc = appserver.start(port, log_path, {"GP_SPEED": "normal"})
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            appserver.wait_healthy(f"{base}/_stcore/health", proc, log_path, timeout=60)
        except RuntimeError:
            print(f"  (c) failed: streamlit did not answer; see {log_path}")
            return None
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=120_000)
            try:
                return drive(browser.new_context(viewport=VIEWPORT), f"{base}/{lab}", proc.pid, preset)
            except (PlaywrightError, AssertionError) as err:  # a timeout: say so, keep (a) and (b)
                print(f"  (c) failed: {str(err).splitlines()[0]}; server log: {log_path}")
                return None
            finally:
                browser.close()
    finally:
        appserver.stop(proc)


def runs_of(preset: Preset | SeqPreset) -> int:
    if isinstance(preset, Preset):
        return 2 if preset.b else 1
    return len(preset.cells) * len(preset.splits)


def drive(context, url: str, server_pid: int, preset: Preset | SeqPreset) -> float:
    """Open the page, play the preset to its end; print what was seen and return redraws per second."""
    from playwright.sync_api import expect

    context.set_default_timeout(120_000)
    page = context.new_page()
    page.add_init_script(LONGTASKS_JS)
    frames: list[tuple[float, int]] = []  # (time, bytes) of every websocket message from the server
    page.on(
        "websocket",
        lambda ws: ws.on("framereceived", lambda data: frames.append((time.perf_counter(), len(data)))),
    )
    t = time.perf_counter()
    page.goto(url, wait_until="domcontentloaded", timeout=120_000)
    play = page.get_by_role("button", name="Play")
    expect(play).to_be_visible(timeout=120_000)
    load_s = time.perf_counter() - t
    page.get_by_role("button", name=preset.short, exact=True).click()
    expect(page.get_by_test_id("stAlert").filter(has_text=preset.name)).to_be_visible(timeout=120_000)
    expect(play).to_be_enabled(timeout=120_000)
    page.wait_for_timeout(1000)  # let the preset's rerun settle
    t_play_page = page.evaluate(POLL_JS)
    tree = process_tree()  # the server (its training included); Chromium and Playwright's driver
    server = {server_pid} | descendants(server_pid, tree)
    processes = {"server": server, "browser": descendants(os.getpid(), tree) - server}
    cpu = {name: cpu_seconds(pids) for name, pids in processes.items()}
    t = time.perf_counter()
    play.click()
    page.wait_for_function(ENDED_JS, timeout=180_000)
    finish_s = time.perf_counter() - t
    cpu = {name: cpu_seconds(pids) - cpu[name] for name, pids in processes.items()}
    status, longtasks, t_end_page = page.evaluate(END_JS)
    seen = Seen(status, longtasks, frames, t_play_page, t_end_page, t)
    return report_drive(seen, preset, load_s, finish_s, cpu)


@dataclasses.dataclass
class Seen:
    """What a page saw of one played preset: its status lines (time, text), its long tasks, the
    websocket frames (time, bytes), when Play was clicked and when the run ended on the page's clock
    (ms), and when Play was clicked on this process's perf_counter (s)."""

    status: list
    longtasks: list | None
    frames: list
    t_play_page: float
    t_end_page: float
    t_play: float


def report_drive(seen: Seen, preset, load_s: float, finish_s: float, cpu: dict) -> float:
    """Print what the page saw while the preset played; return redraws per second."""
    status, longtasks, frames = seen.status, seen.longtasks, seen.frames
    t_play_page, t_end_page, t = seen.t_play_page, seen.t_end_page, seen.t_play
    final = status[-1][1]
    playing = [(when, text) for when, text in status if "playing at" in text]
    t_first = playing[0][0]
    in_window = [s for s in playing if s[0] <= t_first + REDRAW_WINDOW_S * 1000]
    rate = (len(in_window) - 1) / REDRAW_WINDOW_S  # changes after the first one, over the window
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(playing)]
    steps = [int(STEP.match(text).group(1).replace(",", "")) for _, text in playing]
    seconds = (playing[-1][0] - t_first) / 1000
    steps_per_s = (steps[-1] - steps[0]) / seconds if seconds > 0 else 0.0
    ended = "Finished" if final.startswith("Finished") else f"ENDED EARLY ({final!r})"
    print(
        f"  page load {load_s:.1f} s; preset '{preset.short}' ({runs_of(preset)} run(s) x "
        f"{(preset.a if isinstance(preset, Preset) else preset.base).train.steps} steps), "
        f"Play -> {ended}: {finish_s:.1f} s"
    )
    print(
        f"  status line: {len(playing)} redraws while playing, the first {t_first - t_play_page:.0f} ms "
        "after the click; "
        f"{rate:.2f} redraws/s over the first {REDRAW_WINDOW_S:.0f} s; {steps_per_s:.1f} steps/s shown"
    )
    slow = [(round((a[0] - t_first) / 1000, 1), round(b[0] - a[0])) for a, b in itertools.pairwise(playing)]
    slow = [gap for gap in slow if gap[1] > 1000]
    if slow:
        print(f"  gaps over 1 s (s after the first redraw, ms): {slow}")
    if gaps:
        print(f"  gap between redraws, ms: median {statistics.median(gaps):.0f}  worst {max(gaps):.0f}")
    if longtasks is None:
        print("  long tasks: this Chromium has no 'longtask' PerformanceObserver")
    else:
        during = [d for start, d in longtasks if t_play_page <= start <= t_end_page]
        worst = f", worst {max(during):.0f} ms, {sum(during):,.0f} ms in all" if during else ""
        print(f"  long tasks (> 50 ms) from Play to the end: {len(during)}{worst}")
    sent = [size for when, size in frames if when >= t]
    print(
        f"  from Play to the end the server sent {len(sent)} websocket messages, {sum(sent) / 2**20:.1f} MiB "
        f"({sum(sent) / len(playing) / 2**10:,.0f} KiB per redraw seen)"
    )
    print(
        f"  CPU from Play to the end: server {cpu['server']:.1f} s ({cpu['server'] / finish_s:.0%} of a "
        f"core), browser {cpu['browser']:.1f} s ({cpu['browser'] / finish_s:.0%}); per redraw seen: "
        f"server {cpu['server'] / len(playing):.2f} s, browser {cpu['browser'] / len(playing):.2f} s",
        flush=True,
    )
    return rate


# ---- (d) the run budget: legal runs at its edges ----------------------------------------------
# Found by putting every option of the lab's controls (the largest image sets allowed, a link's
# values clamp to the options) through the run's own estimate (core.images.run.image_run_cost,
# core.sequences.run.seq_run_cost, core.multitask.run.multitask_run_cost) and keeping, among the
# settings it allows, those with the largest estimated training step, evaluation or memory.


def _image_edge(data: ImageDataConfig, model: CNNConfig, batch: int = 256):
    cfg = ImageRunConfig(data=data, model=model, train=ImageTrainConfig(batch_size=batch, eval_every=10))
    return lambda: IMAGE_DATASETS.get(data.name).load(data), lambda images: [ImageRun(cfg, images, CPU)]


def _seq_edge(values: dict, cells=("gru",), splits=("time",)):
    cfg = from_values({"data.days": 180, "window.horizon": 96, "window.stride": 1} | values, SEQ_BASE)
    configs = lab_configs(cfg, list(cells), list(splits)).values()
    return lambda: SERIES.get(cfg.data.name).load(cfg.data), lambda series: [
        SeqRun(c, series, CPU) for c in configs
    ]


def _multitask_edge():
    cfg = MultiTaskConfig(
        data=GlyphConfig(n_alphabets=8, per_character=200),
        model=NetConfig(setup="char_given_alphabet", blocks=2, channels=16, hidden=256),
        train=MTTrainConfig(batch_size=128, eval_every=10),
    )
    return lambda: generate(cfg.data), lambda glyphs: [MultiTaskRun(cfg, glyphs, CPU)]


SEQ_STEP_EDGE = {"window.seq_len": 168, "model.layers": 1, "model.hidden": 32, "train.batch_size": 256}
EDGES: dict[str, Callable[[], tuple[Callable[[], object], Callable[[object], list[Trainer]]]]] = {
    "images, largest step: 40x40 colour shapes, 8-16 channels, a 256-unit head, batch 256": lambda: (
        _image_edge(
            ImageDataConfig(name="shapes", per_class=500, size=40, test_fraction=0.5),
            CNNConfig(blocks=2, channels=8, kernel=3, padding=3, pool="max", batchnorm=True, head=256),
        )
    ),
    "images, largest evaluation: 8,000 test shapes of 20x20, 24 channels, batch 256": lambda: _image_edge(
        ImageDataConfig(name="shapes", per_class=2000, size=20, test_fraction=0.5),
        CNNConfig(blocks=1, channels=24, kernel=3, padding=0, pool="max", batchnorm=True, head=256),
    ),
    "images, most memory: 2,400 colour shapes of 64x64, a 256-unit head, batch 256": lambda: _image_edge(
        ImageDataConfig(name="shapes", per_class=300, size=64, test_fraction=0.5),
        CNNConfig(blocks=1, channels=2, kernel=7, padding=1, pool="max", batchnorm=True, head=256),
    ),
    "sequences, largest step: GRU, 168 steps in and 96 out, hidden 32, batch 256": lambda: _seq_edge(
        SEQ_STEP_EDGE
    ),
    "sequences, largest evaluation: GRU, 3 layers of 48, 96 in and 96 out, batch 8": lambda: _seq_edge(
        {"window.seq_len": 96, "model.layers": 3, "model.hidden": 48, "train.batch_size": 8}
    ),
    "sequences, six runs side by side: 3 cells x 2 splits, 168 in, 96 out, hidden 24, batch 256": lambda: (
        _seq_edge(SEQ_STEP_EDGE | {"model.hidden": 24}, tuple(CELLS.names()), ("time", "shuffled"))
    ),
    "two inputs, largest step and evaluation: 2 blocks of 16-32 channels, batch 128": _multitask_edge,
}


def _memory_mib() -> tuple[float, float]:
    """(resident, peak resident) MiB of this process."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def evaluation_pieces(run) -> tuple[list[float], float]:
    """One evaluation of the run piece by piece: each piece's milliseconds, and the whole in seconds."""
    pieces_ms, t0 = [], time.perf_counter()
    pieces = run._evaluation(run.step)
    while True:
        t = time.perf_counter()
        try:
            next(pieces)
        except StopIteration:
            break
        finally:
            pieces_ms.append((time.perf_counter() - t) * 1000)
    return pieces_ms, time.perf_counter() - t0


def pause_latency(runs: list) -> tuple[list[float], int]:
    """Ten Pauses, each at a random moment of an evaluation of the first run, through a live worker
    playing the runs flat out: each Pause's milliseconds, and how many landed inside an evaluation."""
    first = runs[0]
    worker, built = LiveWorker("bench"), iter(runs)
    worker.set_speed("max")
    assert worker.sync({str(i): run.cfg for i, run in enumerate(runs)}, lambda cfg: next(built)) == {}
    pause_ms, inside = [], 0
    rng = random.Random(0)
    for _ in range(10):
        worker.play()
        deadline = time.monotonic() + 60
        while not first.evaluating and time.monotonic() < deadline:  # read without the lock
            time.sleep(0.001)
        time.sleep(rng.uniform(0.0, 0.05))
        t = time.perf_counter()
        worker.pause()
        pause_ms.append((time.perf_counter() - t) * 1000)
        inside += first.evaluating
        assert worker.wait_idle(60)
    return pause_ms, inside


def measure_edge(name: str) -> dict:
    """One edge in this (fresh) process: memory, build, step, evaluation and its pieces, pause latency."""
    torch.set_num_threads(1)
    load, build = EDGES[name]()
    data = load()  # made once for every session (ui.runs.SHARED_IMAGES): measured apart
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # the peak resident memory starts again from here
    start, _ = _memory_mib()
    t = time.perf_counter()
    runs = build(data)
    build_s = time.perf_counter() - t
    for run in runs:
        if isinstance(run, SeqRun):
            run.forecast()  # as the page does: from now on every evaluation makes the forecasts too
    first = runs[0]
    round_ms = []
    for _ in range(6):  # rounds of one step of every run, evaluations aside
        t = time.perf_counter()
        for run in runs:
            run.train_step()
        round_ms.append((time.perf_counter() - t) * 1000)
        for run in runs:
            while run.evaluating:
                run.work()
    pieces_ms, eval_s = evaluation_pieces(first)
    pause_ms, inside = pause_latency(runs)
    _, peak = _memory_mib()
    return dict(
        name=name,
        runs=len(runs),
        build_s=build_s,
        round_ms=statistics.median(round_ms[1:]),  # the first pays one-off costs
        eval_s=eval_s,
        pieces=len(pieces_ms),
        piece_ms=max(pieces_ms),
        pause_ms=pause_ms,
        inside=inside,
        data_mib=data_bytes(data) / 2**20,
        peak_mib=peak - start,
    )


def budget_edges() -> list[dict]:
    """Each edge in a fresh process (its peak memory its own); one line each."""
    out = []
    for name in EDGES:
        code = f"import json; from bench.live import measure_edge; print(json.dumps(measure_edge({name!r})))"
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
        )
        if done.returncode:
            print(f"  {name}: failed\n{done.stderr[-2000:]}")
            continue
        row = json.loads(done.stdout.strip().splitlines()[-1])
        out.append(row)
        print(
            f"  {name}:\n    data {row['data_mib']:.0f} MiB, then the run's peak memory "
            f"+{row['peak_mib']:.0f} MiB, built in {row['build_s']:.1f} s, "
            f"{row['round_ms']:.0f} ms per round of {row['runs']} step(s), evaluation {row['eval_s']:.2f} s "
            f"in {row['pieces']} pieces (longest {row['piece_ms']:.0f} ms);\n    pause() during an "
            f"evaluation: median {statistics.median(row['pause_ms']):.0f} ms, worst "
            f"{max(row['pause_ms']):.0f} ms, {row['inside']} of {len(row['pause_ms'])} landed inside it",
            flush=True,
        )
    return out


# ---- main --------------------------------------------------------------------------------


def main() -> int:
    torch.set_num_threads(1)
    t_start = time.perf_counter()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread, cpu; load average "
        f"{os.getloadavg()[0]:.1f}; {TRIES} pause tries per run, {ROUNDS} interleaved rounds",
        flush=True,
    )
    mlp_data = DATASETS.get(HEAVY_MLP.data.name).load(HEAVY_MLP.data)
    images = IMAGE_DATASETS.get(IMAGE_DEFAULT.data.name).load(IMAGE_DEFAULT.data)
    assert IMAGE_SMALL.data == IMAGE_DEFAULT.data, "both image cases train on the same MNIST images"
    assert VANISHING.data == HEAVY_MLP.data, "both MLP cases train on the same spiral"

    print("(a) pause latency while playing flat out (pause after a random 50-300 ms)", flush=True)
    rng = random.Random(0)
    m = HEAVY_MLP.model
    heavy = pause_tries(Run(HEAVY_MLP, mlp_data, device=CPU), rng)
    report_pause(f"MLP {m.depth}x{m.width}, batch {HEAVY_MLP.train.batch_size}, spiral", heavy)
    cnn = pause_tries(ImageRun(IMAGE_DEFAULT, images, device=CPU), rng)
    report_pause(
        f"CNN ImageRunConfig(), MNIST, batch {IMAGE_DEFAULT.train.batch_size}, "
        f"eval every {IMAGE_DEFAULT.train.eval_every} steps",
        cnn,
    )
    pause_all = heavy.pause_ms + cnn.pause_ms
    late = sum(heavy.after) + sum(cnn.after)

    print(f"(b) throughput: bare run.advance(1) loop vs the worker at 'max', a reader every {READ_EVERY_S} s")
    ratio = overhead("MLP Vanishing preset, 400 steps", lambda: Run(VANISHING, mlp_data, device=CPU))
    small = image_steps(IMAGE_SMALL, 100)
    overhead("CNN Small preset, 100 steps", lambda: ImageRun(small, images, device=CPU))
    print(f"  target: at most {TARGET:.2f} (MLP case), {'met' if ratio <= TARGET else 'NOT met'}")
    snapshot_cost()

    print("(d) the run budget: legal runs at its edges, each in a process of its own", flush=True)
    budget_edges()

    print("(c) the Gradients page in Chromium at 'normal' speed", flush=True)
    redraws = browser_redraws()
    print("(c) the Sequences page in Chromium at 'normal' speed", flush=True)
    browser_redraws(SEQ_PRESET_SHORT, "sequences")
    print(f"whole bench: {time.perf_counter() - t_start:.0f} s; steps after pause() returned: {late}")
    print(
        f"pause_ms_p50={statistics.median(pause_all):.1f} pause_ms_max={max(pause_all):.1f} "
        f"live_overhead_ratio={ratio:.3f} redraws_per_s={'n/a' if redraws is None else f'{redraws:.2f}'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
