"""What the probes cost: a bare PyTorch loop against the core run with every probe on.

    python -m bench.overhead

Both paths train the same model (core.models.build_mlp, same seed) on the same in-memory
data with the same optimizer, loss and batch indices (core.data.BatchOrder, same seed), for
the same number of steps, on the CPU with one torch thread (the app's GP_TORCH_THREADS=1).

- bare: an idiomatic loop, `zero_grad(set_to_none=True)`, forward, loss, backward, step,
  plus `loss.item()` into a list each step, as any script that draws a loss curve does.
- probed: `core.training.Run(cfg, data).advance(steps)`: per-layer gradient norms every
  step and activation statistics (forward hooks) every `probe_every` = 10 steps.

Timing covers, on both sides, building the model and optimizer, one evaluation of the whole
train and test sets before the first step, the steps, and one evaluation after the last
(the run does exactly that with eval_every = steps). A warm-up round runs first, untimed,
and checks that both paths produced exactly the same losses.

The clock is this process's CPU time (time.process_time): the target machine is a shared
2-core box where wall-clock rounds of the same work vary by 2x while another process runs;
CPU time varies far less. Wall-clock rates are printed beside it. The paths alternate for
ROUNDS rounds (which goes first alternates too); each round gives a ratio bare steps/s /
probed steps/s, and a case reports the median of its rounds. The last line,
`overhead_ratio=`, is that median for the app's default lab config (RunConfig()).
"""

from __future__ import annotations

import dataclasses
import gc
import statistics
import sys
import time

import torch
from torch import nn

from core.config import RunConfig
from core.data import BatchOrder, Dataset
from core.data.catalog import DATASETS
from core.gradients.presets import VANISHING
from core.models import build_mlp
from core.registry import OPTIMIZERS
from core.training import Run

ROUNDS = 9
WARMUP_ROUNDS = 1
TARGET = 1.10
CPU = torch.device("cpu")


def bench_config(cfg: RunConfig, steps: int) -> RunConfig:
    """cfg trained for `steps` steps, evaluated only before the first step and after the last."""
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, steps=steps, eval_every=steps))


def bare_loop(cfg: RunConfig, data: Dataset) -> tuple[list[float], list[float]]:
    """The plain PyTorch loop with cfg's optimizer; returns (step losses, final evaluation)."""
    t = cfg.train
    model = build_mlp(data.n_features, data.n_classes, cfg.model, t.seed)
    optimizer = OPTIMIZERS.get(cfg.optim.name).make(model.parameters(), cfg.optim)  # a torch.optim class
    loss_fn = nn.CrossEntropyLoss()
    batches = BatchOrder(len(data.x_train), t.batch_size, t.seed, CPU)
    evaluate(model, loss_fn, data)
    losses = []
    model.train()
    for _ in range(t.steps):
        idx = batches.next()
        loss = loss_fn(model(data.x_train[idx]), data.y_train[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses, evaluate(model, loss_fn, data)


def bare(cfg: RunConfig, data: Dataset) -> list[float]:
    """The plain PyTorch loop; returns the loss of every step."""
    return bare_loop(cfg, data)[0]


@torch.no_grad()
def evaluate(model: nn.Module, loss_fn: nn.Module, data: Dataset) -> list[float]:
    """Loss and accuracy on all train and test examples, as the run's evaluation computes them."""
    model.eval()
    values = []
    for x, y in ((data.x_train, data.y_train), (data.x_test, data.y_test)):
        out = model(x)
        values += [loss_fn(out, y), (out.argmax(dim=1) == y).float().mean()]
    return torch.stack(values).tolist()


def probed(cfg: RunConfig, data: Dataset) -> list[float]:
    """The core run with every probe on; returns the loss of every step."""
    run = Run(cfg, data, device=CPU)
    records = run.advance(cfg.train.steps, max_seconds=float("inf"))
    assert run.done and len(run.evals) == 2, "the run must finish and evaluate twice"
    return [r.loss for r in records]


def timed(fn, cfg: RunConfig, data: Dataset) -> tuple[float, float, list[float]]:
    """(steps per CPU second, steps per wall-clock second, losses) of one call."""
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    losses = fn(cfg, data)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cfg.train.steps / cpu, cfg.train.steps / wall, losses


def measure(name: str, cfg: RunConfig) -> float:
    """Print one line per path for a case and return its median ratio."""
    assert cfg.train.loss == "cross_entropy", "the bare loop uses cross-entropy"
    data = DATASETS.get(cfg.data.name).load(cfg.data)
    for _ in range(WARMUP_ROUNDS):
        *_, bare_losses = timed(bare, cfg, data)
        *_, run_losses = timed(probed, cfg, data)
    if bare_losses != run_losses:
        raise SystemExit(f"{name}: the two paths did not train identically")
    cpu: dict = {bare: [], probed: []}
    wall: dict = {bare: [], probed: []}
    for i in range(ROUNDS):
        for fn in (bare, probed) if i % 2 == 0 else (probed, bare):
            cpu_rate, wall_rate, _ = timed(fn, cfg, data)
            cpu[fn].append(cpu_rate)
            wall[fn].append(wall_rate)
    ratios = [b / p for b, p in zip(cpu[bare], cpu[probed], strict=True)]
    wall_ratio = statistics.median(b / p for b, p in zip(wall[bare], wall[probed], strict=True))
    ratio = statistics.median(ratios)
    for fn in (bare, probed):
        line = f"{fn.__name__:<6} {name:<9} steps/s={statistics.median(cpu[fn]):7.1f}"
        line += f"  (wall {statistics.median(wall[fn]):7.1f})"
        if fn is probed:
            rounds = " ".join(f"{r:.3f}" for r in ratios)
            line += f"  ratio={ratio:.3f} (wall {wall_ratio:.3f})  rounds: {rounds}"
        print(line, flush=True)
    return ratio


def main() -> int:
    torch.set_num_threads(1)
    m = RunConfig().model
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread, cpu, steps/s by process CPU time; "
        f"{ROUNDS} interleaved rounds; "
        f"default = {m.depth}x{m.width} {m.activation}, vanishing = {VANISHING.model.depth}x"
        f"{VANISHING.model.width} {VANISHING.model.activation}; Adam, spiral 600, batch 32",
        flush=True,
    )
    measure("vanishing", bench_config(VANISHING, steps=120))
    ratio = measure("default", bench_config(RunConfig(), steps=300))
    print(f"target: at most {TARGET:.2f}, {'met' if ratio <= TARGET else 'NOT met'}", flush=True)
    print(f"overhead_ratio={ratio:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
