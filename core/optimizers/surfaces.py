"""Two-parameter loss surfaces and the paths that optimizers take across them."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import torch

from core.config import OptimConfig, RunConfig, validate
from core.errors import ConfigError
from core.presets import PresetBase, by_name
from core.registry import OPTIMIZERS, Registry

MAX_PATH_STEPS = 2000
BOX = 1e6  # a coordinate beyond this counts as diverged

Point = tuple[float, float]


@dataclass(frozen=True)
class SurfaceSpec:
    """A loss z = f(x, y) over two parameters, its plot window and its default start."""

    label: str
    description: str  # one sentence for students
    f: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # elementwise on tensors of any shape
    x_range: tuple[float, float]  # plot window
    y_range: tuple[float, float]
    start: Point
    global_min: Point | None  # None: no lowest point (the saddle)


def _local_minimum(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """A tilted double well in x plus a y² valley: local minimum (1, 0), global minimum (-1, 0)."""
    # Double well with minima exactly at x = ±1: the tilt 0.4·(x+1)²·(2-x) has zero slope at both,
    # lifts the right one to 1.6 and leaves the left one at 0; the ridge between them is at x = 0.3.
    return (x**2 - 1) ** 2 + 0.4 * (x + 1) ** 2 * (2 - x) + y**2


SURFACES: Registry[SurfaceSpec] = Registry("surface")
SURFACES.add(
    "bowl",
    SurfaceSpec(
        "Bowl",
        "A round bowl, x² + y²: every direction is equally steep and the gradient points at the minimum.",
        lambda x, y: x**2 + y**2,
        (-2.0, 2.0),
        (-2.0, 2.0),
        (-1.6, 1.2),
        (0.0, 0.0),
    ),
)
SURFACES.add(
    "ravine",
    SurfaceSpec(
        "Ravine",
        "A long narrow valley, 0.1·x² + 2·y²: steep walls across it (y), a gentle slope along it (x).",
        lambda x, y: 0.1 * x**2 + 2 * y**2,
        (-5.0, 5.0),
        (-2.0, 2.0),
        (-4.5, 1.5),
        (0.0, 0.0),
    ),
)
SURFACES.add(
    "local_minimum",
    SurfaceSpec(
        "Local minimum",
        "Two valleys: a shallow one at x = 1 lies on the way from the start to the deeper one at x = -1.",
        _local_minimum,
        (-2.0, 2.5),
        (-1.5, 1.5),
        (2.2, 1.0),
        (-1.0, 0.0),
    ),
)
SURFACES.add(
    "rosenbrock",
    SurfaceSpec(
        "Rosenbrock",
        "The classic banana valley, (1 - x)² + 100·(y - x²)²: easy to fall into, slow to follow to (1, 1).",
        lambda x, y: (1 - x) ** 2 + 100 * (y - x**2) ** 2,
        (-2.0, 2.0),
        (-1.0, 3.0),
        (-1.5, 2.0),
        (1.0, 1.0),
    ),
)
SURFACES.add(
    "saddle",
    SurfaceSpec(
        "Saddle",
        "Near the origin x² - y²: a minimum along x but a maximum along y, so the gradient there is zero "
        "and an optimizer must roll off sideways; far out along y the floor is flat at -1.",
        lambda x, y: x**2 - (1 - torch.exp(-(y**2))),  # ≈ x² - y² near 0, bounded below by -1
        (-2.0, 2.0),
        (-4.0, 4.0),
        (1.5, 0.01),
        None,
    ),
)


def window(name: str, start: Point, margin: float = 0.5) -> tuple[tuple[float, float], tuple[float, float]]:
    """The surface's plot window, widened to hold the start (with a margin): a start at (5, 5) on a
    surface drawn over ±2 must not begin off the picture."""
    spec = SURFACES.get(name)
    (x0, x1), (y0, y1) = spec.x_range, spec.y_range
    x, y = start
    return (min(x0, x - margin), max(x1, x + margin)), (min(y0, y - margin), max(y1, y + margin))


def grid(
    name: str, resolution: int = 80, view: tuple[tuple[float, float], tuple[float, float]] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The surface on a resolution x resolution grid over its plot window (or `view`, see window):
    xs (R,), ys (R,), z (R, R)."""
    if not 2 <= resolution <= 1000:
        raise ConfigError(f"The grid resolution must be between 2 and 1000, not {resolution}.")
    spec = SURFACES.get(name)
    x_range, y_range = view or (spec.x_range, spec.y_range)
    xs = np.linspace(*x_range, resolution)
    ys = np.linspace(*y_range, resolution)
    gx, gy = np.meshgrid(xs, ys)  # (R, R) each; rows follow y
    z = spec.f(torch.from_numpy(gx), torch.from_numpy(gy)).numpy()
    return xs, ys, z


@dataclass(frozen=True)
class Path:
    """Where an optimizer went: points[i] and losses[i] after i steps (points[0] is the start)."""

    points: list[Point]
    losses: list[float]
    diverged_at: int | None  # the step whose result was non-finite or beyond BOX; not recorded

    def step_lengths(self) -> list[float]:
        """Distance between consecutive points, one per step taken."""
        return [math.dist(a, b) for a, b in pairwise(self.points)]


def trajectory(name: str, start: Point, optim_cfg: OptimConfig, steps: int) -> Path:
    """Optimize the point (x, y) on surface `name` for `steps` steps; stop early if it diverges."""
    if not 1 <= steps <= MAX_PATH_STEPS:
        raise ConfigError(f"The number of steps must be between 1 and {MAX_PATH_STEPS}, not {steps}.")
    if not all(math.isfinite(c) and abs(c) <= BOX for c in start):
        raise ConfigError(f"The start point must be two finite numbers of size at most {BOX:g}, not {start}.")
    validate(RunConfig(optim=optim_cfg))  # the learning-rate and momentum checks; other sections default
    f = SURFACES.get(name).f
    param = torch.tensor(start, dtype=torch.float64, requires_grad=True)  # (2,): x, y
    optimizer = OPTIMIZERS.get(optim_cfg.name).make([param], optim_cfg)
    loss = f(param[0], param[1])
    points, losses = [(float(start[0]), float(start[1]))], [loss.item()]
    for step in range(1, steps + 1):
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss = f(param[0], param[1])
        x, y = param.tolist()
        value = loss.item()
        if not all(math.isfinite(v) for v in (x, y, value)) or max(abs(x), abs(y)) > BOX:
            return Path(points, losses, step)
        points.append((x, y))
        losses.append(value)
    return Path(points, losses, None)


# ---- presets: one lesson each, optimizers racing from the same start -------------------


@dataclass(frozen=True)
class SurfacePreset(PresetBase):
    """One lesson: optimizers that race from the same start on one surface."""

    surface: str  # key of SURFACES
    start: Point
    racers: tuple[tuple[str, OptimConfig], ...]  # (legend label, optimizer settings)
    steps: int


def _sgd(lr: float, momentum: float = 0.0) -> OptimConfig:
    """SGD settings; plain (no momentum) unless asked."""
    return OptimConfig(name="sgd", lr=lr, momentum=momentum)  # OptimConfig's default momentum is 0.9


SURFACE_PRESETS: dict[str, SurfacePreset] = by_name(
    SurfacePreset(
        "Learning rate: too small, right, too large",
        "Learning rate",
        "On the bowl SGD with lr 0.01 crawls, with lr 0.1 it reaches the bottom, and with lr 1.05 it "
        "jumps over the bottom to the other wall, a little higher each time.",
        "bowl",
        (-1.6, 1.2),
        (("SGD, lr 0.01", _sgd(0.01)), ("SGD, lr 0.1", _sgd(0.1)), ("SGD, lr 1.05", _sgd(1.05))),
        50,
    ),
    SurfacePreset(
        "Momentum passes the local minimum",
        "Momentum",
        "Plain SGD stops in the first, shallow valley; with momentum 0.9 the same SGD keeps its speed, "
        "rolls over the ridge and settles in the deeper valley.",
        "local_minimum",
        (2.2, 1.0),
        (("SGD, lr 0.01", _sgd(0.01)), ("SGD + momentum 0.9, lr 0.01", _sgd(0.01, 0.9))),
        150,
    ),
    SurfacePreset(
        "Adagrad's shrinking steps",
        "Adagrad",
        "Both start with a step of lr along each axis, but Adagrad divides by the sum of all past "
        "squared gradients, so its steps keep shrinking on a steady slope; Adam averages recent "
        "gradients only and keeps its pace.",
        "ravine",
        (-4.5, 1.5),
        (
            ("Adagrad, lr 0.02", OptimConfig(name="adagrad", lr=0.02)),
            ("Adam, lr 0.02", OptimConfig(name="adam", lr=0.02)),
        ),
        60,
    ),
    SurfacePreset(
        "Adam in the ravine",
        "Adam",
        "SGD follows the gradient, which points mostly across the ravine, so it zigzags from wall to "
        "wall; Adam scales each coordinate on its own, moves x and y by about lr per step and glides "
        "down without zigzagging.",
        "ravine",
        (-4.5, 1.5),
        (("SGD, lr 0.45", _sgd(0.45)), ("Adam, lr 0.1", OptimConfig(name="adam", lr=0.1))),
        60,
    ),
    SurfacePreset(
        "Escaping a saddle",
        "Saddle",
        "Next to a saddle the gradient is almost zero: plain SGD lingers there for dozens of steps, "
        "while SGD with momentum builds up speed and rolls off much sooner.",
        "saddle",
        (1.5, 0.01),
        (("SGD, lr 0.05", _sgd(0.05)), ("SGD + momentum 0.9, lr 0.05", _sgd(0.05, 0.9))),
        80,
    ),
)
