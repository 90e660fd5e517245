"""A fair race: several optimizers train the same model from the same weights on the same batches; the
legend names, the results table and the one check of a race's size."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from core.config import OptimConfig, RunConfig
from core.errors import ConfigError
from core.registry import OPTIMIZERS, SCHEDULES
from core.training import Run

MAX_RACERS = 6


def _settings(optim: OptimConfig) -> dict[str, str]:
    """Setting -> its words ("lr 0.1", "momentum 0.9"), "" when off, for the settings this optimizer uses."""
    spec = OPTIMIZERS.get(optim.name)
    words = {"lr": f"lr {optim.lr:g}"}
    if spec.uses_momentum:
        nesterov = " (Nesterov)" if optim.nesterov else ""
        words["momentum"] = f"momentum {optim.momentum:g}{nesterov}" if optim.momentum else ""
    if spec.uses_betas:
        words["betas"] = f"betas ({optim.beta1:g}, {optim.beta2:g})"
    words["weight decay"] = f"weight decay {optim.weight_decay:g}" if optim.weight_decay else ""
    schedule = SCHEDULES.get(optim.schedule).label.split(" (")[0].lower() + " schedule"
    words["schedule"] = schedule if optim.schedule != "none" else ""
    return words


def describe(optim: OptimConfig) -> str:
    """The settings that matter for this optimizer, in one short line."""
    return f"{OPTIMIZERS.get(optim.name).label}: " + ", ".join(w for w in _settings(optim).values() if w)


def racer_names(optims: Sequence[OptimConfig]) -> list[str]:
    """A legend name per racer: its optimizer and learning rate, and any other setting in which the
    racers that use it differ ("SGD, lr 0.1", "SGD, lr 0.1, momentum 0.9", "Adam, lr 0.01"); a racer
    that is the same as an earlier one gets "(2)"."""
    settings = [_settings(o) for o in optims]
    keys = list(dict.fromkeys(k for words in settings for k in words if k != "lr"))
    differ = [k for k in keys if len({words[k] for words in settings if k in words}) > 1]
    names = [
        ", ".join([OPTIMIZERS.get(o.name).label, words["lr"], *(words[k] for k in differ if words.get(k))])
        for o, words in zip(optims, settings, strict=True)
    ]
    return unique_labels(names)


def unique_labels(names: Sequence[str]) -> list[str]:
    """'Adam', 'Adam' -> 'Adam', 'Adam (2)': the same optimizer twice stays readable."""
    seen: dict[str, int] = {}
    labels = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        labels.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return labels


def race_configs(base: RunConfig, optims: Mapping[str, OptimConfig]) -> dict[str, RunConfig]:
    """Label -> each racer's run config: the shared setup with the racer's optimizer, nothing else.

    The page's race is these configs built by the live engine (ui.runs.sync_runs) and stepped one step
    each in turn (core.training.advance_together), so racers start from the same weights and see the
    same batches (see same_start)."""
    if not 1 <= len(optims) <= MAX_RACERS:
        raise ConfigError(f"A race needs 1 to {MAX_RACERS} optimizers, not {len(optims)}.")
    return {label: dataclasses.replace(base, optim=optim) for label, optim in optims.items()}


def lr_history(start: float, changes: Sequence) -> str:
    """The learning rates a run used, e.g. "0.1, 0.5 from step 813" (changes: LrChange-like)."""
    if not changes:
        return f"{start:g}"
    return ", ".join([f"{changes[0].old:g}"] + [f"{c.new:g} from step {c.step + 1}" for c in changes])


def results_table(
    runs: Mapping[str, Run], target_loss: float, lr_changes: Mapping[str, Sequence] | None = None
) -> list[dict[str, object]]:
    """One row per racer: settings, learning rates used, final losses and accuracy, steps to target_loss."""
    rows = []
    for label, run in runs.items():
        last = run.evals[-1]
        reached = next((e.step for e in run.evals if e.train_loss <= target_loss), None)
        rows.append(
            {
                "racer": label,
                "settings": describe(run.cfg.optim),
                "learning rates": lr_history(run.chosen_lr, (lr_changes or {}).get(label, ())),
                "steps": run.step,
                "train loss": last.train_loss,
                "test loss": last.test_loss,
                "test accuracy": last.test_accuracy,
                f"steps to train loss {target_loss:g}": reached,
                "status": f"diverged at step {run.diverged_at}" if run.diverged_at else run.status.value,
            }
        )
    return rows


def same_start(runs: Mapping[str, Run]) -> bool:
    """True when every racer starts from the same weights."""
    return len({run.init_fingerprint for run in runs.values()}) == 1
