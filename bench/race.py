"""What a race costs: N optimizers raced in one process against N separate bare PyTorch loops.

    python -m bench.race

All paths train the app's default lab config (RunConfig(): spiral 600, MLP 4x16 ReLU, batch 32,
cross-entropy) for STEPS steps with each of N = 4 optimizers (RACERS), on the CPU with one torch
thread (the app's GP_TORCH_THREADS=1). Every racer starts from the same weights
(core.models.build_mlp, same seed) and sees the same batches (core.data.BatchOrder, same seed).

- race: `advance_together` over the runs of `core.optimizers.race.race_configs(cfg, RACERS)`, as
  the page's live engine does: N core runs, one step each in turn, every probe on (per-layer
  gradient norms every step, activation statistics every `probe_every` = 10 steps).
- bare: for each racer in turn, an idiomatic loop with that racer's optimizer
  (core.registry.OPTIMIZERS[name].make): `zero_grad(set_to_none=True)`, forward, loss,
  backward, step, plus `loss.item()` into a list each step.
- runs (diagnostic, not part of the target): for each racer in turn, one core
  `Run(cfg, data).advance(STEPS)`: the race's work without the interleaving. It splits the
  race's extra time into the probes (runs / bare) and the racing itself (race / runs).

Timing covers, on every path and for every racer, building the model and optimizer, one
evaluation of the whole train and test sets before the first step, the steps, and one
evaluation after the last (the runs do exactly that with eval_every = STEPS). A warm-up round
runs first, untimed, and checks that the race, the bare loops and the runs produced exactly the
same loss at every step and the same final evaluation, racer by racer.

The paths take turns for ROUNDS rounds: race and bare always back to back, each going first in
half the rounds, the diagnostic runs before or after that pair. Each round gives a
ratio race wall time / sum of the N bare wall times; `race_ratio=`, the last line, is the
median of those per-round ratios. The issue states the target in wall time; this process's
CPU time (time.process_time) is measured beside it and its ratio printed too, since on the
shared 2-core target machine wall-clock rounds of the same work vary far more than CPU time.
"""

from __future__ import annotations

import gc
import statistics
import sys
import time

import torch

from bench.overhead import bare_loop as bare_one
from bench.overhead import bench_config
from core.config import OptimConfig, RunConfig
from core.data import Dataset
from core.data.catalog import DATASETS
from core.optimizers.race import race_configs
from core.training import Run, advance_together

STEPS = 300
ROUNDS = 8  # a multiple of the 4 orders below
TARGET = 1.15
CPU = torch.device("cpu")
# Momentum is set explicitly: OptimConfig's default (0.9) would otherwise apply to SGD and RMSprop.
RACERS = {
    "SGD": OptimConfig(name="sgd", lr=0.1, momentum=0.0),
    "SGD momentum": OptimConfig(name="sgd", lr=0.05, momentum=0.9),
    "RMSprop": OptimConfig(name="rmsprop", lr=0.001, momentum=0.0),
    "Adam": OptimConfig(name="adam", lr=0.01),
}

Result = dict[str, tuple[list[float], list[float]]]  # racer -> (step losses, final evaluation)


def bare(cfg: RunConfig, data: Dataset) -> Result:
    """The N bare loops, one after another."""
    return {label: bare_one(one, data) for label, one in race_configs(cfg, RACERS).items()}


def run_result(run: Run) -> tuple[list[float], list[float]]:
    assert run.done and len(run.evals) == 2, "every run must finish and evaluate twice"
    e = run.evals[-1]
    return [r.loss for r in run.records], [e.train_loss, e.train_accuracy, e.test_loss, e.test_accuracy]


def runs(cfg: RunConfig, data: Dataset) -> Result:
    """N core runs, one after another (diagnostic)."""
    out = {}
    for label, one in race_configs(cfg, RACERS).items():
        run = Run(one, data, device=CPU)
        run.advance(cfg.train.steps, max_seconds=float("inf"))
        out[label] = run_result(run)
    return out


def race(cfg: RunConfig, data: Dataset) -> Result:
    """The N runs as one race."""
    the_race = {label: Run(one, data, device=CPU) for label, one in race_configs(cfg, RACERS).items()}
    assert advance_together(list(the_race.values()), cfg.train.steps, float("inf")) == cfg.train.steps
    return {label: run_result(run) for label, run in the_race.items()}


def timed(fn, cfg: RunConfig, data: Dataset) -> tuple[float, float, Result]:
    """(CPU seconds, wall seconds, result) of one call."""
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    result = fn(cfg, data)
    return time.process_time() - cpu, time.perf_counter() - wall, result


def main() -> int:
    torch.set_num_threads(1)
    cfg = bench_config(RunConfig(), steps=STEPS)
    assert cfg.train.loss == "cross_entropy", "the bare loop is cross-entropy"
    data = DATASETS.get(cfg.data.name).load(cfg.data)
    m, n = cfg.model, len(RACERS)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread, cpu; {ROUNDS} interleaved rounds; "
        f"{m.depth}x{m.width} {m.activation}, {cfg.data.name} {cfg.data.n_samples}, "
        f"batch {cfg.train.batch_size}, {STEPS} steps x {n} racers: "
        + ", ".join(f"{label} (lr {optim.lr:g})" for label, optim in RACERS.items()),
        flush=True,
    )
    paths = (race, bare, runs)

    # Warm-up, untimed: pays the first optimizer's one-off imports and checks fairness.
    results = {fn: timed(fn, cfg, data)[2] for fn in paths}
    for fn in (bare, runs):
        if results[fn] != results[race]:
            raise SystemExit(f"the race and the {fn.__name__} path did not train identically")
    print(
        f"warm-up: race, bare loops and separate runs gave identical losses at all {STEPS} steps "
        f"and identical final evaluations, for each of the {n} racers",
        flush=True,
    )

    # race and bare always run back to back, each first in half the rounds; the diagnostic
    # runs go before the pair in half the rounds and after it in the other half.
    orders = ((race, bare, runs), (bare, race, runs), (runs, race, bare), (runs, bare, race))
    cpu: dict = {fn: [] for fn in paths}
    wall: dict = {fn: [] for fn in paths}
    for i in range(ROUNDS):
        for fn in orders[i % len(orders)]:
            c, w, _ = timed(fn, cfg, data)
            cpu[fn].append(c)
            wall[fn].append(w)

    def ratio(clock: dict, a, b) -> tuple[float, list[float]]:
        rounds = [x / y for x, y in zip(clock[a], clock[b], strict=True)]
        return statistics.median(rounds), rounds

    total = n * STEPS  # optimizer steps per round, on every path
    for fn in paths:
        line = f"{fn.__name__:<5} steps/s={total / statistics.median(wall[fn]):7.1f} wall"
        line += f"  ({total / statistics.median(cpu[fn]):7.1f} CPU)"
        line += f"  s/round={statistics.median(wall[fn]):.3f} wall ({statistics.median(cpu[fn]):.3f} CPU)"
        print(line, flush=True)
    for a, b, what in ((race, bare, "race / bare"), (runs, bare, "runs / bare"), (race, runs, "race / runs")):
        (w, w_rounds), (c, c_rounds) = ratio(wall, a, b), ratio(cpu, a, b)
        print(f"{what:<11} ratio={w:.3f} wall (CPU {c:.3f})", flush=True)
        for clock, rounds in (("wall", w_rounds), ("CPU", c_rounds)):
            print(f"{'':<11}   {clock:<4} rounds: " + " ".join(f"{r:.3f}" for r in rounds), flush=True)
    race_ratio, _ = ratio(wall, race, bare)
    print(f"target: at most {TARGET:.2f}, {'met' if race_ratio <= TARGET else 'NOT met'}", flush=True)
    print(f"race_ratio={race_ratio:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
