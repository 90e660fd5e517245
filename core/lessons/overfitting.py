"""The Overfitting lab's guided lesson (too little data, dropout, weight decay, early stopping) and its
exercises. The runs are core.overfitting.run.FitRun (or their page views): `evals` are EpochRecords,
`best` the epoch with the lowest validation loss, `stopped_at` and `restored_from` early stopping's."""

from __future__ import annotations

from core.lessons.model import Exercise, Lesson, Progress, Runs, Step, equals, reach

LAB = "overfitting"
EXAMPLES = "a.train.examples"


def _overfit_facts(runs: Runs) -> dict:
    run = runs["A"]
    last, best = run.evals[-1], run.best
    return {
        "best_epoch": best.epoch,
        "best_val": best.val_loss,
        "end_val": last.val_loss,
        "end_train": last.train_loss,
        "epochs": last.epoch,
        "gap": last.gap,
    }


def _overfit_outcome(f: dict) -> int:
    if f["best_epoch"] == 0:
        return 2
    return 1 if f["end_val"] > 1.1 * f["best_val"] and f["best_epoch"] < 0.8 * f["epochs"] else 0


def _pair_facts(runs: Runs) -> dict:
    a, b = runs["A"], runs["B"]
    return {
        "a_best": a.best.val_loss,
        "b_best": b.best.val_loss,
        "a_epoch": a.best.epoch,
        "b_epoch": b.best.epoch,
        "a_gap": a.evals[-1].gap,
        "b_gap": b.evals[-1].gap,
        "a_norm": a.evals[-1].weight_norm,
        "b_norm": b.evals[-1].weight_norm,
    }


def _dropout_outcome(f: dict) -> int:
    if f["b_best"] > f["a_best"]:
        return 0
    return 1 if f["b_epoch"] > f["a_epoch"] else 2


def _decay_outcome(f: dict) -> int:
    if f["b_norm"] >= f["a_norm"]:
        return 2
    return 0 if f["b_gap"] < f["a_gap"] else 1


def _early_facts(runs: Runs) -> dict | None:
    run = runs["A"]
    patience = run.cfg.train.patience
    if not patience:
        return None  # early stopping switched off: the question does not fit
    return {
        "patience": patience,
        "stopped": run.stopped_at,
        "best_epoch": run.best.epoch,
        "restored": run.restored_from,
        "epochs": run.cfg.train.epochs,
        "ending": (
            f"stopped after epoch {run.stopped_at} of {run.cfg.train.epochs}"
            if run.stopped_at is not None
            else f"ran all {run.cfg.train.epochs} epochs"
        ),
    }


def _early_outcome(f: dict) -> int:
    if f["stopped"] is None:
        return 0
    return 1 if f["restored"] == f["best_epoch"] and f["stopped"] > f["best_epoch"] else 2


LESSON = Lesson(
    LAB,
    "Why a model that aces its training set fails on new data, and four cures",
    "A validation set the model never trains on tells how it does on new data. Predict, press Play, and "
    "read the measured answer from the curves per epoch.",
    (
        Step(
            "Fifty examples",
            "Overfitting: 50 examples, 85,000 weights",
            "Fifty handwritten digits train a network of 85,000 weights for 100 epochs. The training loss "
            "will fall to almost 0. What will the validation loss do?",
            (
                "Fall all the way with it",
                "Fall for a while, then climb",
                "Never fall: the model learns nothing",
            ),
            1,
            "the shaded gap between the solid (training) and dotted (validation) lines, and the star.",
            _overfit_facts,
            _overfit_outcome,
            "The validation loss was lowest after epoch {best_epoch} ({best_val:.2f}) and ended at "
            "{end_val:.2f} after epoch {epochs}, while the training loss ended at {end_train:.3f}: a gap "
            "of {gap:.2f}.",
            "Each step lowers the loss on the 50 training images. At first what lowers it is true of "
            "digits in general, so the validation loss falls too; once the general patterns are learned, "
            "the cheapest way to lower it further is to memorise these 50 images (their smudges, their "
            "slants), which is false of other digits, so the validation loss climbs. 85,000 weights can "
            "memorise 50 images many times over.",
        ),
        Step(
            "Dropout",
            "Dropout: the same network with p = 0.5",
            "B is A with dropout p = 0.5 after each hidden layer: on every training step half of the units, "
            "chosen at random, output 0. How will B's lowest validation loss compare with A's?",
            (
                "Higher: B learns with half a network",
                "Lower, and reached at a later epoch",
                "Lower, and reached at an earlier epoch",
            ),
            1,
            "where each run's star lands on the validation (dotted) curves.",
            _pair_facts,
            _dropout_outcome,
            "A's lowest validation loss was {a_best:.2f} after epoch {a_epoch}; B's was {b_best:.2f} after "
            "epoch {b_epoch}.",
            "A unit that may vanish on any step cannot rely on a few partners to memorise an image "
            "together; the network learns features that work whichever half is present, which is what "
            "new images need. Memorising takes longer, so the climb starts later. In eval mode every "
            "unit works (PyTorch scales the kept ones by 1/(1 - p) in training, so the sizes match).",
        ),
        Step(
            "Weight decay",
            "Weight decay 0.01: smaller weights, a smaller gap",
            "B is A with weight decay 0.01 in the optimizer. What happens to B's weights and its gap?",
            (
                "Smaller weights and a smaller gap",
                "Smaller weights, the same gap",
                "Larger weights: the penalty is too small to matter",
            ),
            0,
            "the weights' norm chart, and the shaded gaps.",
            _pair_facts,
            _decay_outcome,
            "The weights' norm ended at {a_norm:.1f} for A and {b_norm:.1f} for B; the gap between "
            "validation and training loss at {a_gap:.2f} for A and {b_gap:.2f} for B.",
            "Weight decay adds λ·w to each weight's gradient, so every step pulls every weight a little "
            "towards 0, and only weights the data keeps pushing stay large. Memorising 50 images needs "
            "large, finely balanced weights; a smooth function that fits most digits needs small ones.",
        ),
        Step(
            "Early stopping",
            "Early stopping: patience 10",
            "The same overfitting network with early stopping, patience 10: after each epoch it checks "
            "the validation loss. When will it stop, and with which weights?",
            (
                "After all 100 epochs, with the last weights",
                "10 epochs after the best one, with the best epoch's weights",
                "At the best epoch itself, at once",
            ),
            1,
            "the star (the best epoch) and where the curves end.",
            _early_facts,
            _early_outcome,
            "The run {ending}; the best validation loss came after epoch {best_epoch}, and the weights of "
            "epoch {restored} were put back.",
            "Nobody knows at epoch 13 that epoch 13 is the best: the loss wobbles, and it might fall "
            "again. So the run waits `patience` epochs for a new best, keeps a copy of the best weights "
            "meanwhile, and puts them back when it gives up. The validation set chose the epoch, so its "
            "score is now a little optimistic: that is what the test set is for, once, at the end.",
        ),
    ),
)


def _halve_gap(runs: Runs, lr_changes) -> Progress:
    run = runs["A"]
    last = run.evals[-1]
    text = f"gap {last.gap:.2f} (goal 0.45 or less), validation accuracy {last.val_accuracy:.0%} (goal 80%)"
    if not run.done:
        return Progress(False, f"epoch {last.epoch} of {run.cfg.train.epochs}: {text}; judged at the end")
    return Progress(last.gap <= 0.45 and last.val_accuracy >= 0.8, text)


def _lower_val(runs: Runs, lr_changes) -> Progress:
    run = runs["A"]
    scores = [(e.step, e.val_loss) for e in run.evals]
    return reach(run, scores, 0.55, "validation loss", form="{:.2f}", higher=False)


EXERCISES = (
    Exercise(
        "halve-the-gap",
        LAB,
        "Halve the gap with the same 50 examples",
        "Keep the 50 training examples and end the run with a gap between validation and training loss of "
        "0.45 or less (the preset ends near 0.87), at 80% validation accuracy or more.",
        "More data is not allowed here; the cures that change the training are: dropout, weight decay, "
        "a smaller network. Two together do more than one.",
        "Overfitting: 50 examples, 85,000 weights",
        (equals(EXAMPLES, 50, "50 training examples"),),
        _halve_gap,
    ),
    Exercise(
        "lower-val-loss",
        LAB,
        "A validation loss below 0.55",
        "Keep the 50 training examples and reach a validation loss of 0.55 or lower at some epoch (the "
        "preset's best is 0.64).",
        "Regularise: weight decay or dropout let the validation loss sink further before it climbs.",
        "Overfitting: 50 examples, 85,000 weights",
        (equals(EXAMPLES, 50, "50 training examples"),),
        _lower_val,
    ),
)
