"""Loss surfaces are sound, and each surface preset reproduces its lesson as a measured fact."""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np
import pytest
import torch

from core.config import OptimConfig
from core.errors import ConfigError
from core.optimizers import surfaces
from core.optimizers.surfaces import SURFACE_PRESETS, SURFACES, Path, grid, trajectory
from core.registry import OPTIMIZERS


def race(preset_name: str) -> dict[str, Path]:
    """Every racer's path in a preset, by legend label."""
    p = SURFACE_PRESETS[preset_name]
    return {label: trajectory(p.surface, p.start, cfg, p.steps) for label, cfg in p.racers}


def test_registry_names_in_order_and_unknown_name_lists_them():
    assert SURFACES.names() == ["bowl", "ravine", "local_minimum", "rosenbrock", "saddle"]
    with pytest.raises(ConfigError, match="Valid names: bowl, ravine, local_minimum, rosenbrock, saddle"):
        SURFACES.get("volcano")


@pytest.mark.parametrize("name", SURFACES.names())
def test_grid_shapes_and_finite_values(name):
    xs, ys, z = grid(name, resolution=40)
    assert xs.shape == (40,) and ys.shape == (40,) and z.shape == (40, 40)
    assert np.isfinite(z).all()
    spec = SURFACES.get(name)
    # rows follow y, columns follow x; f also works on 0-d tensors
    x, y = torch.tensor(xs[5]), torch.tensor(ys[30])
    assert z[30, 5] == pytest.approx(spec.f(x, y).item())
    assert (xs[0], xs[-1]) == spec.x_range and (ys[0], ys[-1]) == spec.y_range


@pytest.mark.parametrize("name", [n for n, s in SURFACES.items() if s.global_min is not None])
def test_global_minimum_has_zero_gradient_and_is_lowest_nearby(name):
    spec = SURFACES.get(name)
    point = torch.tensor(spec.global_min, dtype=torch.float64, requires_grad=True)
    value = spec.f(point[0], point[1])
    value.backward()
    assert point.grad.abs().max().item() < 1e-12
    for angle in np.linspace(0, 2 * math.pi, 8, endpoint=False):
        dx, dy = 1e-3 * math.cos(angle), 1e-3 * math.sin(angle)
        nearby = spec.f(torch.tensor(spec.global_min[0] + dx), torch.tensor(spec.global_min[1] + dy))
        assert nearby.item() > value.item()
    _, _, z = grid(name)
    assert value.item() <= z.min() + 1e-12  # nothing on the plotted grid is lower


def test_saddle_is_flat_at_the_origin_and_bounded_below():
    f = SURFACES.get("saddle").f
    origin = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    f(origin[0], origin[1]).backward()
    assert origin.grad.abs().max().item() == 0
    assert f(torch.tensor(0.0), torch.tensor(50.0)).item() == pytest.approx(-1.0)


def test_path_records_every_step_from_the_start():
    path = trajectory("bowl", (1.0, -1.0), OptimConfig(name="sgd", lr=0.1, momentum=0.0), 5)
    assert path.diverged_at is None
    assert len(path.points) == len(path.losses) == 6
    assert path.points[0] == (1.0, -1.0) and path.losses[0] == 2.0
    assert path.points[1] == pytest.approx((0.8, -0.8))  # x - lr·2x
    assert len(path.step_lengths()) == 5


@pytest.mark.parametrize(
    ("start", "steps", "message"),
    [
        ((0.0, 0.0), 0, "number of steps"),
        ((0.0, 0.0), 2001, "number of steps"),
        ((math.nan, 0.0), 10, "start point"),
        ((0.0, math.inf), 10, "start point"),
    ],
)
def test_bad_steps_or_start_raise_config_error(start, steps, message):
    with pytest.raises(ConfigError, match=message):
        trajectory("bowl", start, OptimConfig(), steps)


def test_bad_optimizer_settings_raise_config_error():
    with pytest.raises(ConfigError, match="learning rate"):
        trajectory("bowl", (1.0, 1.0), OptimConfig(lr=-1.0), 10)
    with pytest.raises(ConfigError, match="Valid names"):
        trajectory("bowl", (1.0, 1.0), OptimConfig(name="lbfgs"), 10)


@pytest.mark.parametrize(("surface", "lr"), [("bowl", 100.0), ("rosenbrock", 0.05)])
def test_divergence_stops_cleanly(surface, lr):
    path = trajectory(surface, SURFACES.get(surface).start, OptimConfig(name="sgd", lr=lr, momentum=0.0), 500)
    assert path.diverged_at is not None and path.diverged_at <= 5
    assert len(path.points) == len(path.losses) == path.diverged_at  # the bad step is not recorded
    assert all(math.isfinite(v) for point in path.points for v in point)


def test_lr_preset_crawls_converges_and_bounces():
    small, right, large = race("Learning rate: too small, right, too large").values()
    start_loss = small.losses[0]  # 4.0
    assert small.losses[-1] > 0.1 * start_loss  # measured 0.53 after 50 steps
    assert right.losses[-1] < 1e-6  # measured 8e-10
    assert large.diverged_at is None and large.losses[-1] > 100 * start_loss  # measured 5.5e4
    xs = [x for x, _ in large.points]
    assert all(a * b < 0 for a, b in pairwise(xs))  # from wall to wall every step


def test_momentum_preset_passes_the_local_minimum():
    plain, momentum = race("Momentum passes the local minimum").values()
    (x_plain, _), (x_momentum, _) = plain.points[-1], momentum.points[-1]
    assert x_plain == pytest.approx(1.0, abs=0.01) and plain.losses[-1] > 1.5  # local basin; measured 1.60
    assert x_momentum == pytest.approx(-1.0, abs=0.01) and momentum.losses[-1] < 1e-3  # global basin
    assert min(x for x, _ in plain.points) > 0.3  # never crossed the ridge


def test_adagrad_preset_steps_shrink_while_adams_do_not():
    adagrad, adam = (p.step_lengths() for p in race("Adagrad's shrinking steps").values())
    assert adagrad[0] == pytest.approx(adam[0], rel=1e-3)  # both: lr along each axis, √2·0.02
    adagrad_ratio = np.mean(adagrad[-5:]) / np.mean(adagrad[:5])
    adam_ratio = np.mean(adam[-5:]) / np.mean(adam[:5])
    assert adagrad_ratio < 0.25, adagrad_ratio  # measured 0.195
    assert adam_ratio > 0.7, adam_ratio  # measured 0.78


def test_adam_ravine_preset_moves_per_coordinate_while_sgd_zigzags():
    sgd, adam = race("Adam in the ravine").values()
    sgd_steps, adam_steps = np.diff(sgd.points, axis=0), np.diff(adam.points, axis=0)  # (60, 2): dx, dy
    lr = 0.1
    assert np.allclose(np.abs(adam_steps[:5]), lr, rtol=0.03)  # |dx| ≈ |dy| ≈ lr; measured 0.098..0.1
    dx, dy = np.abs(sgd_steps[0])
    assert dy > 5 * dx  # measured 6.7: mostly across the ravine
    assert (np.sign(sgd_steps[1:11, 1]) != np.sign(sgd_steps[:10, 1])).all()  # y flips every step
    assert (np.sign(adam_steps[1:11, 1]) == np.sign(adam_steps[:10, 1])).all()  # no zigzag


def test_saddle_preset_momentum_rolls_off_sooner():
    plain, momentum = race("Escaping a saddle").values()

    def first_below(path: Path, level: float = -0.5) -> int:
        return next(i for i, loss in enumerate(path.losses) if loss < level)

    assert first_below(plain) > 2 * first_below(momentum)  # measured 51 vs 20
    assert plain.losses[25] == pytest.approx(0.0, abs=0.01)  # still sitting by the saddle


def test_presets_use_known_surfaces_and_optimizers():
    for p in SURFACE_PRESETS.values():
        assert p.surface in SURFACES and len(p.racers) >= 2 and 1 <= p.steps <= 2000
        assert all(cfg.name in OPTIMIZERS for _, cfg in p.racers)


def test_the_plot_window_holds_any_allowed_start():
    spec = surfaces.SURFACES.get("bowl")
    assert surfaces.window("bowl", (0.0, 0.0)) == (spec.x_range, spec.y_range)  # inside: unchanged
    (x0, x1), (y0, y1) = surfaces.window("bowl", (5.0, -5.0))
    assert x1 >= 5.5 and y0 <= -5.5 and x0 == spec.x_range[0] and y1 == spec.y_range[1]
    xs, ys, z = surfaces.grid("bowl", resolution=20, view=((x0, x1), (y0, y1)))
    assert xs[-1] == x1 and ys[0] == y0 and z.shape == (20, 20)
