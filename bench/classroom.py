"""A class on one server: N students play the same preset at once; what each of them gets, what it costs.

    python -m bench.classroom [--n 1 2 4 8 16 30] [--servers 1] [--engines 0] [--speed normal]
                              [--lab gradients]

Method. `streamlit run app.py` on 127.0.0.1 (GP_SPEED as asked, one torch thread per process as the app
sets, XSRF off for the client), or `--servers K` of them (K processes, students spread over them in
turn, as nginx's sticky sessions spread a class; see deploy/), each with `--engines K` live engines
(GP_LIVE_PROCESSES=K: the labs' runs train in K child processes; core.engines). For each N, N clients of
bench.wsclient (the browser's websocket protocol, its message cache included, no drawing: 30 browsers
cannot share a 2-core machine with the server they measure) each open the lab's page (`--lab`: the
Gradients lab's preset "Vanishing vs cured", 2 runs x 400 steps, the Optimizers lab's "SGD vs Adam",
2 racers x 300 steps, or the Sequences lab's "GRU vs LSTM", 2 cells x 150 steps; about 20 s each at
"normal"), click the preset, wait until every student has,
then all click Play at once. Each client reruns the live view's fragment when the server's auto_rerun
timer says, as the browser does, and reads the status line of every redraw. Per student: the time from
Play to "Finished" (or the steps reached by TIMEOUT_S), the steps a second its runs advanced, the
redraws a second it received and the bytes. For the server(s), over the same span: CPU seconds (user +
system, /proc, every thread of the server and of its child processes, engines included), the peak
resident memory (VmHWM, summed over the same processes) and the resident memory before the students
came and after they left.

- `server CPU per student-step` = server CPU / (steps all students' runs took together; a preset of 2
  runs takes 2 steps a round).
- `training CPU per run-step` = the same preset's runs trained by a bare loop in this process (one
  torch thread, no page, no redraw; the runs' probes and evaluations included), CPU seconds per step:
  paced as the app paces them at the speed asked (a round of one step of every run, then asleep until
  the next is due), and flat out (best of three). At Normal a round comes every 50 ms, and a step that
  follows a pause costs more than one in a tight loop (its caches are cold: 2.15 against 1.49 ms for
  the Gradients pair on the machine of BENCHMARKS.md); the paced one is what that step costs to train.
- `cpu_ratio` = the first / the paced second (in brackets: / the flat-out one): what a student-step costs
  the server against what training it costs. Target (issue 15): at most 2.
- `classroom_speed_ratio` (printed last, for the largest N) = median over students of (steps a second
  at N) / (steps a second at N = 1). Target: at least 0.8 at N = 30, with at least 1 redraw a second.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import resource
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.wsclient import Session, page_hashes
from deploy import appserver

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = 150.0


def tree(pid: int) -> list[int]:
    """The process and its descendants (a server, its live engines and their tracker)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for children in Path(f"/proc/{p}/task").glob("*/children"):
            try:
                todo += [int(c) for c in children.read_text().split()]
            except OSError:
                continue
    return out


def proc_cpu(pid: int) -> float:
    """CPU seconds of the process and its descendants."""
    total = 0.0
    for p in tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def proc_mem(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM in MiB, summed over the process and its descendants."""
    out = {"VmRSS": 0.0, "VmHWM": 0.0}
    for p in tree(pid):
        try:
            lines = Path(f"/proc/{p}/status").read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            key, _, value = line.partition(":")
            if key in out:
                out[key] += int(value.split()[0]) / 1024
    return out


def start_server(port: int, speed: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    log = Path(tempfile.gettempdir()) / f"bench-classroom-{port}.log"
    return appserver.start(
        port, log, {"GP_SPEED": speed, **(extra_env or {})}, {"server.enableXsrfProtection": "false"}
    )


def wait_healthy(port: int, proc: subprocess.Popen) -> None:
    log = Path(tempfile.gettempdir()) / f"bench-classroom-{port}.log"
    appserver.wait_healthy(f"http://127.0.0.1:{port}/_stcore/health", proc, log)


def gradient_runs(preset: str) -> list:
    """The run configs a Gradients preset sets up (A, and B if it compares)."""
    from core.gradients.presets import GRADIENT_PRESETS

    p = next(p for p in GRADIENT_PRESETS.values() if p.short == preset)
    return [p.a] + ([p.b] if p.b is not None else [])


def race_runs(preset: str) -> list:
    """The run configs an Optimizers race preset sets up, one per racer."""
    from core.optimizers.presets import RACE_PRESETS
    from core.optimizers.race import race_configs

    p = next(p for p in RACE_PRESETS.values() if p.short == preset)
    return list(race_configs(p.base, {str(i): o for i, o in enumerate(p.racers)}).values())


def sequence_runs(preset: str) -> list:
    """The run configs a Sequences preset sets up, one per cell and split."""
    from core.sequences.compare import lab_configs
    from core.sequences.presets import SEQ_PRESETS

    p = next(p for p in SEQ_PRESETS.values() if p.short == preset)
    return list(lab_configs(p.base, p.cells, p.splits).values())


def mlp_run(cfg):
    """A Gradients or Optimizers run on its built-in table, on the CPU."""
    import torch

    from core.data.catalog import DATASETS
    from core.training import Run

    return Run(cfg, DATASETS.get(cfg.data.name).load(cfg.data), device=torch.device("cpu"))


def sequence_run(cfg):
    """A Sequences run on its built-in series, on the CPU."""
    import torch

    from core.sequences.run import SeqRun, builtin_series

    return SeqRun(cfg, builtin_series(cfg.data), device=torch.device("cpu"))


@dataclasses.dataclass(frozen=True)
class Lab:
    """What the students open and play: a page, a preset's button, how that preset's runs are set up,
    and how one of them is built for the bare loop."""

    page: str  # url path
    preset: str  # the preset's button label
    runs: Callable[[str], list]  # preset -> its run configs
    build: Callable = mlp_run  # config -> a run on the CPU

    def configs(self) -> list:
        return self.runs(self.preset)


LABS = {
    "gradients": Lab("gradients", "Vanishing vs cured", gradient_runs),
    "optimizers": Lab("optimizers", "SGD vs Adam", race_runs),
    "sequences": Lab("sequences", "GRU vs LSTM", sequence_runs, sequence_run),
}


def training_cpu_per_step(lab: Lab, speed: str) -> tuple[float, float, int]:
    """CPU seconds one run-step of the preset takes in a bare loop (probes and evaluations included):
    flat out (best of three), and paced as the app paces it at `speed` (rounds of one step of every run
    at the speed's rate, asleep between them: a step after a pause finds the caches cold); and the
    number of runs."""
    from core.device import configure_threads
    from core.pace import SPEEDS
    from core.training import advance_together

    configure_threads()
    configs = lab.configs()

    def cost(rate: float | None) -> float:
        runs = [lab.build(cfg) for cfg in configs]
        for run in runs:
            run.play()
        start, began = time.thread_time(), time.monotonic()
        rounds = 0
        while advance_together(runs, 1000 if rate is None else 1, max_seconds=float("inf")):
            rounds += 1
            if rate is not None:
                time.sleep(max(0.0, began + rounds / rate - time.monotonic()))
        return (time.thread_time() - start) / sum(run.step for run in runs)

    hot = min(cost(None) for _ in range(3))
    seconds = SPEEDS[speed]
    paced = cost(max(cfg.train.steps for cfg in configs) / seconds) if seconds else hot
    return hot, paced, len(configs)


async def student(url: str, page: str, preset: str, ready: asyncio.Barrier, go: asyncio.Event) -> dict:
    s = Session(url, page)
    await s.open()
    await s.click(preset)
    await ready.wait()
    await go.wait()
    start = time.monotonic()
    await s.click("Play")
    while not s.finished and not s.closed and time.monotonic() - start < TIMEOUT_S:
        await asyncio.sleep(0.1)
    end = time.monotonic()
    step, total = s.progress or (0, 1)
    if s.finished:
        step = total
        end = s.redraws[-1].at if s.redraws else end
    took = end - start
    redraws = [r for r in s.redraws if start <= r.at <= end]
    result = {
        "seconds": took,
        "finished": s.finished,
        "steps": step,
        "steps_per_s": step / took,
        "redraws_per_s": len(redraws) / took,
        "bytes": s.bytes_in,
        "errors": s.errors,
    }
    await s.close()
    return result


async def classroom(urls: list[str], n: int, lab: Lab = LABS["gradients"]) -> list[dict]:
    pages = await page_hashes(urls[0])
    ready, go = asyncio.Barrier(n + 1), asyncio.Event()
    page = pages[lab.page]
    tasks = [asyncio.create_task(student(urls[i % len(urls)], page, lab.preset, ready, go)) for i in range(n)]
    waiting = asyncio.create_task(ready.wait())
    await asyncio.wait([waiting, *tasks], timeout=300, return_when=asyncio.FIRST_COMPLETED)
    for task in tasks:
        if task.done():
            task.result()  # a student who failed before Play: say why
    go.set()
    return await asyncio.gather(*tasks)


def one_class(
    urls: list[str], procs: list, n: int, lab: Lab, train: tuple[float, float, int], alone: float | None
) -> list[float]:
    """n students play at once; print their row of the table; return each one's steps a second."""
    hot, paced, runs = train
    before = {p.pid: proc_mem(p.pid)["VmRSS"] for p in procs}
    cpu0 = sum(proc_cpu(p.pid) for p in procs)
    client0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.monotonic()
    results = asyncio.run(classroom(urls, n, lab))
    wall = time.monotonic() - t0
    cpu = sum(proc_cpu(p.pid) for p in procs) - cpu0
    client1 = resource.getrusage(resource.RUSAGE_SELF)
    client = client1.ru_utime + client1.ru_stime - client0.ru_utime - client0.ru_stime
    time.sleep(2.0)
    mems = [proc_mem(p.pid) for p in procs]
    speeds = [r["steps_per_s"] for r in results]
    redraws = [r["redraws_per_s"] for r in results]
    steps = runs * sum(r["steps"] for r in results)
    per_step = cpu / max(steps, 1)
    ratio = statistics.median(s / (alone or statistics.median(speeds)) for s in speeds)
    done = sum(r["finished"] for r in results)
    kib = statistics.median(r["bytes"] / r["seconds"] / 1024 for r in results)
    errors = [e for r in results for e in r["errors"]]
    print(
        f"{n:>8}  {done:>3}/{n:<3} {max(r['seconds'] for r in results):5.1f}s"
        f"  {statistics.median(speeds):7.1f} ({min(speeds):5.1f})"
        f"     {statistics.median(redraws):5.2f} ({min(redraws):4.2f})"
        f"    {kib:9.0f}  {cpu:11.1f}  {per_step * 1e3:10.2f} ms"
        f"  {per_step / paced:8.2f} ({per_step / hot:4.2f})"
        f"  {sum(before.values()):.0f}/{sum(m['VmHWM'] for m in mems):.0f}"
        f"/{sum(m['VmRSS'] for m in mems):.0f}"
        f"  speed ratio {ratio:.2f} (wall {wall:.0f}s, clients' CPU {client / wall:.0%} of a core)"
        + (f"  ERRORS: {errors[:3]}" if errors else "")
    )
    return speeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1, 2, 4, 8, 16, 30])
    parser.add_argument("--servers", type=int, default=1, help="app servers; students in turn")
    parser.add_argument(
        "--engines", default="auto", help="live engines per server (GP_LIVE_PROCESSES: a number, or auto)"
    )
    parser.add_argument("--speed", default="normal", choices=["slow", "normal", "fast", "max"])
    parser.add_argument("--lab", default="gradients", choices=sorted(LABS), help="the page and its preset")
    args = parser.parse_args()
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

    lab = LABS[args.lab]
    train = training_cpu_per_step(lab, args.speed)
    print(
        f"training CPU per run-step (bare loop, one torch thread): {train[1] * 1e3:.2f} ms at {args.speed}'s"
        f" pace, {train[0] * 1e3:.2f} ms flat out; {train[2]} runs"
    )
    free_port = appserver.free_port

    ports = [free_port() for _ in range(args.servers)]
    procs = [start_server(port, args.speed, {"GP_LIVE_PROCESSES": args.engines}) for port in ports]
    try:
        for port, proc in zip(ports, procs, strict=True):
            wait_healthy(port, proc)
        urls = [f"ws://127.0.0.1:{port}/_stcore/stream" for port in ports]
        for url in urls:  # warm-up: imports, data sets, first figures, on every server
            asyncio.run(classroom([url], 1, lab))
        print(
            f"\n{args.servers} server process(es), {args.engines} engine(s) each, speed {args.speed},"
            f" {lab.page}'s preset {lab.preset!r};"
            " per student: seconds from Play to the end, steps a second, redraws a second"
        )
        header = "students  all done  steps/s med (min)  redraws/s med (min)  KiB/s each"
        header += "  server CPU s  per student-step  cpu_ratio (flat out)  RSS before/peak/after MiB"
        print(header)
        alone = None
        ratio = None
        for n in [1] + [n for n in args.n if n != 1]:  # alone first: the speed every ratio compares with
            speeds = one_class(urls, procs, n, lab, train, alone)
            alone = alone or statistics.median(speeds)
            ratio = statistics.median(s / alone for s in speeds)
        where = f"servers={args.servers} engines={args.engines}"
        print(f"classroom_speed_ratio={ratio:.3f} n={args.n[-1]} {where}")
    finally:
        appserver.stop(*procs)


if __name__ == "__main__":
    main()
