"""What the process pool buys a hyperparameter search: the same trials in turn, and on every core.

    python -m bench.search              # one worker per core (GP_POOL_WORKERS overrides)
    python -m bench.search --rounds 5

Both paths run the very same tasks, `core.overfitting.search.search_tasks` of a random search with the
lab's default trial (`search.BASE`: 300 digits, 10 epochs, MLP 2 x 128, SGD with momentum) and BUDGET
trials:

- sequential: `core.overfitting.pool.run_sequential(tasks)` in this process, with one torch thread
  (`torch.set_num_threads(1)`, as every worker has);
- parallel: `core.overfitting.pool.Pool(workers).submit(tasks)` and `Job.wait()`: the lab's own
  search path, one worker process per core, each with one torch thread.

Start-up is kept out of the timed rounds and reported on its own: the pool's workers are spawned
and import torch and the task's module (`pool.preload`), then each runs one tiny trial, which loads
the digits once per process (the trials' lru_cache) and pays the first optimizer's one-off imports;
this process runs the same tiny trial before its first round.

ROUNDS timed rounds, the two paths taking turns to go first. Each round's ratio is sequential wall
time / parallel wall time; the last line, `search_speedup`, is the median of those ratios (wall clock:
the point of the pool is wall time). Every result of every round, on both paths, must equal the first
sequential round's bit for bit in every field but `seconds` (`TrialResult.same_as`); the line
`identical` says whether they did. Target: search_speedup at least 0.85 x the workers (1.7 on 2 cores).

--lesson also runs, on the same pool, the grid and random searches of seeds 0..9 for each setting and
budget, and prints how often random search's best validation loss beat the grid's.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time

import torch

from core.config import with_changes
from core.overfitting import pool, search

BUDGET = 16  # 8 trials per worker on 2 cores; a multiple of the workers keeps the last round full
ROUNDS = 10  # an even number: each path goes first in half the rounds
TARGET_PER_WORKER = 0.85


def tiny_tasks(n: int) -> list[pool.Task]:
    """n copies of a trial of one epoch of a tiny MLP on the same data as the real trials."""
    base = with_changes(search.BASE, model={"depth": 1, "width": 8}, train={"examples": 20, "epochs": 1})
    return [pool.Task(search.run_trial, (base, search.Trial(0.1, 0.9, "momentum")))] * n


def timed_job(the_pool: pool.Pool, tasks: list[pool.Task]) -> tuple[float, list]:
    started = time.perf_counter()
    job = the_pool.submit(tasks, "trial")
    job.wait()
    if job.error:
        raise SystemExit(job.error)
    return time.perf_counter() - started, job.results()


def timed_sequential(tasks: list[pool.Task]) -> tuple[float, list]:
    started = time.perf_counter()
    results = pool.run_sequential(tasks)
    return time.perf_counter() - started, results


def lesson(the_pool: pool.Pool, seeds: range = range(10)) -> None:
    """Grid against random search with the same budget, seeds 0..9, each setting and budget: how often
    random search's best trial has a lower validation loss than the grid's."""
    for second in search.SECOND:
        space = search.space_for(second)
        for budget in search.BUDGETS:
            grid = the_pool.submit(
                search.search_tasks(search.SearchConfig(space=space, budget=budget, method="grid"))
            )
            randoms = [
                the_pool.submit(search.search_tasks(search.SearchConfig(space=space, budget=budget, seed=s)))
                for s in seeds
            ]
            for job in (grid, *randoms):
                job.wait()
            grid_best = search.best(grid.results())
            bests = [search.best(job.results()) for job in randoms]
            wins = sum(b.val_loss < grid_best.val_loss for b in bests)
            print(
                f"lesson: {second}, budget {budget}: random beat the grid for {wins} of {len(seeds)} seeds "
                f"(grid best val loss {grid_best.val_loss:.3f} at lr {grid_best.lr:.3g}, "
                f"{math.isqrt(budget)} learning rates; random bests {min(b.val_loss for b in bests):.3f}..."
                f"{max(b.val_loss for b in bests):.3f}, {budget} learning rates)",
                flush=True,
            )


def start_up(workers: int) -> pool.Pool:
    """The pool spawned and warmed, untimed in the rounds: spawn + imports, then the data and the
    first optimizer; what each took is printed."""
    the_pool = pool.Pool(workers)
    started = time.perf_counter()
    warm = the_pool.submit([pool.Task(pool.preload, ("torch", search.__name__))] * workers)
    warm.wait()
    spawned = time.perf_counter() - started
    first, _ = timed_job(the_pool, tiny_tasks(workers))
    here, _ = timed_sequential(tiny_tasks(1))
    print(
        f"start-up (not in the rounds): {workers} workers spawned and imported torch and the search in "
        f"{spawned:.2f} s; their first tiny trial (digits loaded, first optimizer) {first:.2f} s; "
        f"the same in this process {here:.2f} s",
        flush=True,
    )
    return the_pool


def rounds(the_pool: pool.Pool, tasks: list, n: int) -> tuple:
    """n rounds of the same trials in turn and in the pool, alternating which goes first.
    Returns (sequential seconds, parallel seconds, ratios, the first results, the pool's last
    results, whether every run's results were the same to the bit)."""
    sequential, parallel, ratios = [], [], []
    reference, last_parallel, identical = None, None, True
    for i in range(n):
        for path in ("sequential", "parallel") if i % 2 == 0 else ("parallel", "sequential"):
            if path == "sequential":
                seconds, results = timed_sequential(tasks)
                sequential.append(seconds)
            else:
                seconds, results = timed_job(the_pool, tasks)
                parallel.append(seconds)
                last_parallel = results
            reference = reference or results
            identical &= len(results) == len(reference) and all(
                r is not None and r.same_as(ref) for r, ref in zip(results, reference, strict=True)
            )
        ratios.append(sequential[-1] / parallel[-1])
        print(
            f"round {i + 1}: sequential {sequential[-1]:.2f} s, parallel {parallel[-1]:.2f} s, "
            f"ratio {ratios[-1]:.2f}",
            flush=True,
        )
    return sequential, parallel, ratios, reference, last_parallel, identical


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--budget", type=int, default=BUDGET, choices=search.BUDGETS)
    parser.add_argument(
        "--lesson", action="store_true", help="also count how often random search beats the grid (seeds 0..9)"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    workers = pool.pool_size()
    cfg = search.SearchConfig(budget=args.budget, method="random", seed=0)
    tasks = search.search_tasks(cfg)
    b = cfg.base
    print(
        f"torch {torch.__version__}, 1 thread per process, cpu; {workers} workers ({pool.WORKERS_ENV} or the "
        f"cores), spawn; load average {os.getloadavg()[0]:.2f}; {args.budget} trials of a random search "
        f"(seed 0): {b.data.name} {b.train.examples}, {b.train.epochs} epochs, batch {b.train.batch_size}, "
        f"MLP {b.model.depth}x{b.model.width}, {b.optim.name}",
        flush=True,
    )

    the_pool = start_up(workers)
    sequential, parallel, ratios, reference, last_parallel, identical = rounds(the_pool, tasks, args.rounds)
    if args.lesson:
        lesson(the_pool)
    t0 = time.perf_counter()
    the_pool.shutdown()
    stopped = time.perf_counter() - t0

    per_trial = statistics.median(r.seconds for r in reference)
    per_trial_pool = statistics.median(r.seconds for r in last_parallel)
    speedup = statistics.median(ratios)
    target = TARGET_PER_WORKER * workers
    winner = search.best(reference)
    print(
        f"trial seconds, median: {per_trial:.3f} in this process, {per_trial_pool:.3f} in a worker; "
        f"pool shut down in {stopped:.2f} s"
    )
    print(f"best trial: lr {winner.lr:.3g}, momentum {winner.second:.3f}, val loss {winner.val_loss:.4f}")
    print(f"load average at the end {os.getloadavg()[0]:.2f} (others take cores from the pool first)")
    print(f"sequential wall s (median) {statistics.median(sequential):.2f}")
    print(f"parallel wall s (median) {statistics.median(parallel):.2f}")
    print(f"rounds: {' '.join(f'{r:.2f}' for r in ratios)}")
    print(f"target: at least {target:.2f} ({TARGET_PER_WORKER} x {workers} workers), ", end="")
    print("met" if speedup >= target else "NOT met")
    print(f"identical {identical}")
    print(f"search_speedup {speedup:.2f}")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
