"""The Optimizers lab's race as course-style PyTorch code that reproduces it (core.export.mlp's pieces
and reproduction contract): one model class, one training function, and a loop over the racers in which
each starts from the same weights (`load_state_dict` of a saved copy) and sees the same batches (its
sampler's generator seeded again), as the course's `train_model(optimizer, net, num_epochs)` is called
once per optimizer. The app steps its racers one step each in turn; they share nothing, so training
them one after the other gives each the same losses.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from core import export
from core.config import OptimConfig, RunConfig, to_values
from core.data import Dataset
from core.export import LOSS_FILE, Sliders, mlp
from core.export.mlp import DATA_FILE
from core.optimizers.race import racer_names

SHARED = ("data.", "model.", "train.")


def _sliders(base: RunConfig, racers: Mapping[str, OptimConfig]) -> Sliders:
    """The shared settings by their sidebar names, and each racer's as "Racer 2: Learning rate"."""
    names = {k: v for k, v in mlp.SLIDERS.items() if k.startswith(SHARED)}
    values = {k: v for k, v in to_values(base).items() if k in names}
    for i, optim in enumerate(racers.values()):
        for k, v in to_values(RunConfig(optim=optim)).items():
            if k in mlp.OPTIM_KEYS:
                names[f"r{i}.{k}"] = f"Racer {i + 1}: {mlp.SLIDERS[k]}"
                values[f"r{i}.{k}"] = v
    return Sliders(names, values)


def _quote(text: str) -> str:
    """A string literal in double quotes, as `ruff format` writes it."""
    return json.dumps(text, ensure_ascii=False)


def _racers(s: Sliders, racers: Mapping[str, OptimConfig]) -> str:
    names = racer_names(list(racers.values()))
    made, scheduled = [], []
    for i, (name, optim) in enumerate(zip(names, racers.values(), strict=True)):
        call, _ = mlp.optimizer_call(optim, "params")
        made += [f"    if racer == {_quote(name)}:  # the tab of racer {i + 1}", f"        return {call}"]
        schedule, schedule_keys = mlp.schedule_call(optim)
        if schedule != "None":
            whys = [f"        {s.why(f'r{i}.{k}').strip()}" for k in schedule_keys]
            scheduled += [f"    if racer == {_quote(name)}:", *whys, f"        return {schedule}"]
    listed = "\n".join(f"    {_quote(name)}," for name in names)
    return f'''\
# The racers (the app's racer tabs): each one's optimizer and learning-rate schedule
RACERS = [
{listed}
]


def make_optimizer(racer, params):
    """The racer's optimizer, set as its tab in the app sets it."""
{chr(10).join(made)}
    raise ValueError(racer)


def make_scheduler(racer, optimizer):
    """The racer's learning-rate schedule, or None for a constant rate."""
{chr(10).join(scheduled) or "    # no racer has a schedule"}
    return None'''


def _race(notebook: bool) -> str:
    return f'''\
# The race: every racer from the same weights, on the same batches in the same order
{mlp.run_steps(notebook)}
start = copy.deepcopy(model.state_dict())
results = {{}}
for racer in RACERS:
    model.load_state_dict(start)
    order.generator.manual_seed(SEED)
    optimizer = make_optimizer(racer, model.parameters())
    scheduler = make_scheduler(racer, optimizer)
    print(f"{{racer}}:")
    results[racer] = losses = train(model, optimizer, scheduler, run_steps)
    accuracy = test_accuracy(model)
    print(f"  {{len(losses)}} steps, last loss {{losses[-1]:.4f}}, test accuracy {{accuracy:.0%}}")

with open("{LOSS_FILE}", "w", newline="") as f:
    rows = csv.writer(f)
    rows.writerow(["racer", "step", "loss"])
    for racer, losses in results.items():
        rows.writerows([racer, i, repr(v)] for i, v in enumerate(losses, start=1))'''


def cells(
    base: RunConfig, racers: Mapping[str, OptimConfig], dataset: Dataset | None = None, notebook: bool = False
) -> list[str]:
    s = _sliders(base, racers)
    return [
        mlp.imports("copy", "csv"),
        mlp.settings(s, base, mlp.shape(dataset)),
        mlp.DATA,
        mlp.model(s, base),
        mlp.init(s, base),
        _racers(s, racers),
        "# The loss\n" + mlp.loss(s, base),
        mlp.train(s, base),
        _race(notebook),
    ]


def script(base: RunConfig, racers: Mapping[str, OptimConfig], dataset: Dataset | None = None) -> str:
    doc = (
        f"Optimizers lab, as PyTorch code: {len(racers)} optimizers race on the {base.data.name} data.\n\n"
        f"Run it next to {DATA_FILE}: python train.py [--steps N]. It writes every racer's training loss\n"
        f"per step to {LOSS_FILE}; on the CPU with one thread (OMP_NUM_THREADS=1) these equal the app's."
    )
    return export.join(doc, cells(base, racers, dataset))


def readme(base: RunConfig, racers: Mapping[str, OptimConfig]) -> str:
    listed = "\n".join(f"- {name}" for name in racer_names(list(racers.values())))
    return f"""\
# Optimizers lab: this race as PyTorch code

The racers:

{listed}

Files: `train.py` (the script), `train.ipynb` (the same code as notebook cells), `{DATA_FILE}` (the
app's training and test rows, already standardised; `split` says which), `settings.json` (the shared
setup and each racer's optimizer).

{export.reproduction(f"all {base.train.steps} steps of every racer", "every racer's losses")}
"""


def bundle(base: RunConfig, racers: Mapping[str, OptimConfig], dataset: Dataset) -> bytes:
    settings = {
        "shared": {k: v for k, v in to_values(base).items() if k.startswith(SHARED)},
        "racers": {
            name: {k: v for k, v in to_values(RunConfig(optim=o)).items() if k in mlp.OPTIM_KEYS}
            for name, o in zip(racer_names(list(racers.values())), racers.values(), strict=True)
        },
    }
    return export.bundle(
        {
            DATA_FILE: mlp.data_csv(dataset),
            "train.py": script(base, racers, dataset),
            "train.ipynb": export.notebook(
                f"Optimizers lab: a race of {len(racers)}", cells(base, racers, dataset, notebook=True)
            ),
            "README.md": readme(base, racers),
            "settings.json": json.dumps(settings, indent=1),
        }
    )


def changes(
    old: tuple[RunConfig, Mapping[str, OptimConfig]], new: tuple[RunConfig, Mapping[str, OptimConfig]]
) -> list[str]:
    """What changed, in the sidebar's words ("Racer 2: Learning rate 0.01 → 0.1"); a racer that joins or
    leaves is said so."""
    before, after = _sliders(*old), _sliders(*new)
    said = after.changes(before.values)
    if len(old[1]) != len(new[1]):
        said.insert(0, f"Racers {len(old[1])} → {len(new[1])}")
    return said
