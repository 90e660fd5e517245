"""The Optimizers lab's race as code: one script trains every racer and reproduces the app's race.

Each race preset's bundle runs its train.py for 50 steps (all presets at once, one torch thread each);
every racer's losses must equal the app's `Run` of that racer float for float. The app steps racers in
turn and they share nothing, so each racer's run alone is the app's race.
"""

from __future__ import annotations

import csv
import math
import subprocess
from pathlib import Path

import pytest
import torch

from core.config import OptimConfig, RunConfig
from core.data.catalog import DATASETS
from core.optimizers import export
from core.optimizers.presets import RACE_BASE, RACE_PRESETS
from core.optimizers.race import race_configs, racer_names
from core.training import Run
from tests.exporting import assert_ruff_clean, assert_self_contained, run_bundles, run_notebook, same

STEPS = 50
RACES = {p.short: (p.base, {f"{i + 1}": o for i, o in enumerate(p.racers)}) for p in RACE_PRESETS.values()}


def _load(cfg: RunConfig):
    return DATASETS.get(cfg.data.name).load(cfg.data)


def _app_losses(base: RunConfig, racers, steps: int = STEPS) -> dict[str, list[float]]:
    """Racer name -> the app's losses: each racer's run, as the page's race builds it."""
    data = _load(base)
    out = {}
    names = racer_names(list(racers.values()))
    for name, cfg in zip(names, race_configs(base, racers).values(), strict=True):
        run = Run(cfg, data, torch.device("cpu"))
        run.advance(steps, max_seconds=math.inf)
        out[name] = [r.loss for r in run.records]
    return out


@pytest.fixture(scope="module")
def scripts(tmp_path_factory) -> dict[str, tuple[Path, subprocess.CompletedProcess]]:
    bundles = {short: export.bundle(*race, _load(race[0])) for short, race in RACES.items()}
    return run_bundles(bundles, ["--steps", str(STEPS)], tmp_path_factory)


def _script_losses(folder: Path) -> dict[str, list[float]]:
    with open(folder / export.LOSS_FILE, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["racer", "step", "loss"]
    out: dict[str, list[float]] = {}
    for racer, step, loss in rows[1:]:
        out.setdefault(racer, []).append(float(loss))
        assert int(step) == len(out[racer])
    return out


@pytest.mark.parametrize("short", list(RACES))
def test_every_racer_reproduces_the_app_bit_for_bit(scripts, short):
    folder, done = scripts[short]
    assert done.returncode == 0, done.stderr
    app = _app_losses(*RACES[short])
    got = _script_losses(folder)
    assert list(got) == list(app)
    for name in app:
        assert same(got[name], app[name]), f"{short}, {name}: {got[name][:3]} vs {app[name][:3]}"
    # the racers really differ (a script that trained one racer for all would fail above, or here)
    assert len({tuple(v) for v in got.values()}) == len(got)


def test_script_is_self_contained_and_passes_ruff(tmp_path):
    for base, racers in RACES.values():
        assert_self_contained(
            export.script(base, racers), {"argparse", "copy", "csv", "math", "pandas", "torch"}
        )
    every = {
        str(i): o
        for i, o in enumerate(
            [
                OptimConfig(name="sgd", lr=0.1, momentum=0.9, nesterov=True, schedule="step"),
                OptimConfig(name="adam", lr=0.01, schedule="exponential", gamma=0.99),
                OptimConfig(name="rmsprop", lr=0.001),
                OptimConfig(name="adagrad", lr=0.05),
                OptimConfig(name="adamw", lr=0.01, weight_decay=0.01, schedule="cosine"),
                OptimConfig(name="adam", lr=0.01, schedule="exponential", gamma=0.99),
            ]
        )
    }
    text = export.script(RACE_BASE, every)
    assert text.count("if racer == ") == 6 + 4  # six optimizers, four schedules
    assert '"Adam, lr 0.01, exponential schedule (2)"' in text  # the same optimizer twice keeps two names
    assert_ruff_clean(text, tmp_path)


def test_notebook_runs_top_to_bottom(tmp_path, monkeypatch):
    base, racers = RACES["SGD vs Adam"]
    monkeypatch.chdir(tmp_path)
    namespace = run_notebook(
        export.bundle(base, racers, _load(base)),
        tmp_path,
        lambda code: code.replace("run_steps = STEPS", "run_steps = 10"),
    )
    app = _app_losses(base, racers, steps=10)
    assert list(namespace["results"]) == list(app)
    assert all(same(namespace["results"][k], app[k]) for k in app)


def test_changes_name_the_racer_and_mark_its_line():
    base, racers = RACES["SGD vs Adam"]
    faster = {**racers, "2": OptimConfig(name="adam", lr=0.1)}
    assert export.changes((base, racers), (base, faster)) == ["Racer 2: Learning rate 0.01 → 0.1"]
    old, new = export.script(base, racers).splitlines(), export.script(base, faster).splitlines()
    from core.export import highlight

    marked = [new[i - 1] for i in sorted(highlight("\n".join(old), "\n".join(new)))]
    assert any(line.startswith("        return torch.optim.Adam(params, lr=0.1,") for line in marked)
    three = {**racers, "3": OptimConfig(name="rmsprop", lr=0.001)}
    assert export.changes((base, racers), (base, three))[0] == "Racers 2 → 3"


def test_the_page_shows_the_race_as_code():
    from tests.apptest import open_page

    at = open_page("pages/optimizers.py")
    assert not at.exception
    code = [c for c in at.code if "def make_optimizer" in c.value]
    assert len(code) == 1 and "for racer in RACERS:" in code[0].value
    assert "← changed" not in code[0].value
