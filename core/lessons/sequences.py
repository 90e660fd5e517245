"""The Sequences lab's guided lesson (cells against a naive forecast, memory, an honest split) and exercises.

Runs are found by their cell and split (labels read "LSTM", or "LSTM · time split" when two splits
are compared). Scores are test MSEs in normalised units, on the same test windows as the naive
forecasts they are compared with.
"""

from __future__ import annotations

from core.config import to_values
from core.lessons.model import Exercise, Lesson, Progress, Runs, Step, best, equals, kept, power_of_ten
from core.sequences.presets import SEQ_BASE

LAB = "sequences"
CLEAR = 0.1  # "beats it clearly": a test MSE at least 10% below the naive forecast's


def cell(runs: Runs, name: str, split: str = "time"):
    """The run of one cell on one split, or None."""
    return next((r for r in runs.values() if r.cfg.model.cell == name and r.cfg.window.split == split), None)


def gain(run, mse: float | None = None) -> float:
    """How far below the best naive forecast a test MSE is, as a share of it (negative: above it)."""
    _, base = run.best_baseline
    return (base - (run.evals[-1].test_mse if mse is None else mse)) / base


def reach_back(run) -> float:
    """The input gradient a day back in the window, relative to the latest input step's."""
    grads = run.evals[-1].input_grads
    return grads[-run.series.season] / grads[-1]


def _cells_facts(runs: Runs) -> dict | None:
    lstm, gru = cell(runs, "lstm"), cell(runs, "gru")
    if lstm is None or gru is None:
        return None
    name, base = lstm.best_baseline
    return {
        "steps": lstm.step,
        "lstm": lstm.evals[-1].test_mse,
        "gru": gru.evals[-1].test_mse,
        "base_name": name.lower(),
        "base": base,
        "lstm_gain": gain(lstm),
        "gru_gain": gain(gru),
    }


def _cells_outcome(f: dict) -> int:
    beat = [f["lstm_gain"] >= CLEAR, f["gru_gain"] >= CLEAR]
    return 0 if all(beat) else 1 if not any(beat) else 2


def _memory_facts(runs: Runs) -> dict | None:
    rnn, lstm, gru = (cell(runs, name) for name in ("rnn", "lstm", "gru"))
    if rnn is None or lstm is None or gru is None or not rnn.series.season:
        return None
    if rnn.cfg.window.seq_len <= rnn.series.season:
        return None  # the window must hold yesterday for the question to make sense
    name, base = rnn.best_baseline
    return {
        "rnn_reach": reach_back(rnn),
        "lstm_reach": reach_back(lstm),
        "gru_reach": reach_back(gru),
        "rnn_text": power_of_ten(reach_back(rnn)),
        "lstm_text": power_of_ten(reach_back(lstm)),
        "gru_text": power_of_ten(reach_back(gru)),
        "rnn": rnn.evals[-1].test_mse,
        "lstm": lstm.evals[-1].test_mse,
        "gru": gru.evals[-1].test_mse,
        "base_name": name.lower(),
        "base": base,
    }


def _memory_outcome(f: dict) -> int:
    gated = [f["lstm_reach"], f["gru_reach"]]
    if all(r > 100 * f["rnn_reach"] for r in gated):
        return 1
    return 2 if all(r < 1e-4 for r in [*gated, f["rnn_reach"]]) else 0


def _split_facts(runs: Runs) -> dict | None:
    honest = next((r for r in runs.values() if r.cfg.window.split == "time"), None)
    leaky = next((r for r in runs.values() if r.cfg.window.split == "shuffled"), None)
    if honest is None or leaky is None:
        return None
    h, s = honest.evals[-1], leaky.evals[-1]
    return {
        "train_time": h.train_mse,
        "test_time": h.test_mse,
        "ratio_time": h.test_mse / h.train_mse,
        "train_shuffled": s.train_mse,
        "test_shuffled": s.test_mse,
        "ratio_shuffled": s.test_mse / s.train_mse,
    }


def _split_outcome(f: dict) -> int:
    if f["test_shuffled"] < 0.8 * f["test_time"]:
        return 0
    return 1 if f["test_time"] < 0.8 * f["test_shuffled"] else 2


LESSON = Lesson(
    LAB,
    "Recurrent networks on a time series",
    "Three forecasts on the same windows and batches, each against forecasts that need no training. "
    "Predict, press Play, and read the table's measured answer.",
    (
        Step(
            "Cells against a naive forecast",
            "GRU vs LSTM on a day of electricity",
            "An LSTM and a GRU read the last day of 15-minute electricity readings and forecast the next "
            "day. Against 'the same time the day before', which needs no training?",
            ("Both beat it clearly", "Neither beats it", "Only one of them does"),
            0,
            "the table, and the day-ahead forecasts against the truth.",
            _cells_facts,
            _cells_outcome,
            "Test MSE after {steps} steps: LSTM {lstm:.3f}, GRU {gru:.3f}; '{base_name}' {base:.3f}. The "
            "LSTM is {lstm_gain:.0%} below it, the GRU {gru_gain:.0%}.",
            "A copy of yesterday repeats the daily rhythm, but not how today differs from yesterday. The "
            "cells read the whole last day and learn the rhythm together with how the current level shifts "
            "it. A naive forecast is the bar every model must clear: a model that does not beat it is not "
            "worth its training.",
        ),
        Step(
            "Memory across a long window",
            "A plain RNN with a long window",
            "Two days in, one day out, for a plain RNN, an LSTM and a GRU. Whose gradient still reaches "
            "yesterday, 96 steps back in the window?",
            (
                "All three alike: the window holds yesterday",
                "The LSTM's and the GRU's, not the plain RNN's",
                "None of them: a day is too far back",
            ),
            1,
            "the input-gradient chart: how far back does each line stay high?",
            _memory_facts,
            _memory_outcome,
            "A day back in the window, the test loss's gradient with respect to the input was {rnn_text} "
            "of its size at the latest step for the plain RNN, {lstm_text} for the LSTM and {gru_text} for "
            "the GRU. Test MSE: RNN {rnn:.3f}, LSTM {lstm:.3f}, GRU {gru:.3f}; '{base_name}' {base:.3f}.",
            "Backpropagation through time multiplies one factor per time step. In a plain RNN that factor "
            "is the recurrent weights times tanh's slope, mostly below 1, so over 96 steps the gradient "
            "shrinks by many orders of magnitude: yesterday hardly reaches the weights. The LSTM's and the "
            "GRU's memory is updated by adding to it, through gates that can leave it unchanged, so their "
            "gradient survives much further back.",
        ),
        Step(
            "An honest split",
            "A shuffled split leaks the future",
            "The same LSTM on Seattle's hourly temperatures, split two ways: by time (the test is the last "
            "fifth of the series) and with windows dealt at random. Which test error is lower?",
            ("The shuffled split's", "The time split's", "About the same"),
            0,
            "the table: each split's train and test MSE.",
            _split_facts,
            _split_outcome,
            "Split by time: train MSE {train_time:.4f}, test {test_time:.4f} ({ratio_time:.1f} × the "
            "train MSE). Dealt at random: train {train_shuffled:.4f}, test {test_shuffled:.4f} "
            "({ratio_shuffled:.1f} ×).",
            "Dealt at random, each test window sits between training windows that overlap it by hours: the "
            "model has seen almost every test target already, so its test error is about its training "
            "error. Split by time, the test period is a season the model never saw, as the future will be. "
            "The shuffled score flatters the model; only a split by time measures a forecast.",
        ),
    ),
)

# ---- exercises -------------------------------------------------------------------------------------

SERIES = kept(
    {key: to_values(SEQ_BASE)[key] for key in ("data.name", "data.days", "data.seed")},
    "the electricity series as loaded (70 days)",
)
DAY_AHEAD = equals("window.horizon", 96, "a day-ahead forecast (horizon 96)")
RNN_GAIN = 0.2
MAX_WEIGHTS = 1_300
SMALL_GAIN = 0.25


def _best_gain(run) -> float:
    return gain(run, best([e.test_mse for e in run.evals], higher=False))


def _rnn_beats_yesterday(runs: Runs, lr_changes) -> Progress:
    rnn = cell(runs, "rnn")
    if rnn is None:
        return Progress(False, "switch on the plain RNN, split by time")
    name, _ = rnn.best_baseline
    share = _best_gain(rnn)
    where = (
        f"best RNN test MSE {share:.0%} below '{name.lower()}'"
        if share >= 0
        else (f"best RNN test MSE {-share:.0%} above '{name.lower()}'")
    )
    if share >= RNN_GAIN:
        return Progress(True, f"{where} at step {rnn.step:,} (goal {RNN_GAIN:.0%} below)")
    return Progress(False, f"{where}, goal {RNN_GAIN:.0%} below")


def _small_forecaster(runs: Runs, lr_changes) -> Progress:
    honest = [r for r in runs.values() if r.cfg.window.split == "time"]
    small = [r for r in honest if r.n_parameters <= MAX_WEIGHTS]
    if not small:
        fewest = min(honest, key=lambda r: r.n_parameters) if honest else None
        if fewest is None:
            return Progress(False, "split by time to compare with the naive forecasts")
        return Progress(
            False,
            f"every cell has more than {MAX_WEIGHTS:,} weights (the smallest, "
            f"{fewest.cfg.model.cell.upper()}, has {fewest.n_parameters:,})",
        )
    top = max(small, key=_best_gain)
    share = _best_gain(top)
    text = (
        f"{top.cfg.model.cell.upper()} with {top.n_parameters:,} weights: best test MSE "
        f"{share:.0%} below the best naive forecast"
    )
    if share >= SMALL_GAIN:
        return Progress(True, f"{text} (goal {SMALL_GAIN:.0%})")
    return Progress(False, f"{text}, goal {SMALL_GAIN:.0%}")


EXERCISES = (
    Exercise(
        "rnn-beats-yesterday",
        LAB,
        "A plain RNN that beats yesterday",
        f"Get the plain RNN's day-ahead test MSE at least {RNN_GAIN:.0%} below 'the same time the day "
        "before'. Any window, size or training length will do.",
        "The RNN cannot carry yesterday across a long window, but it may not need to: what can it learn "
        "from the last hours alone, given time?",
        "A plain RNN with a long window",
        (equals("cells.rnn", True, "the plain RNN switched on"), DAY_AHEAD, SERIES),
        _rnn_beats_yesterday,
        {"cells.lstm": False, "cells.gru": False},
    ),
    Exercise(
        "small-forecaster",
        LAB,
        f"A day-ahead forecast with at most {MAX_WEIGHTS:,} weights",
        f"Forecast a day ahead at least {SMALL_GAIN:.0%} better (in test MSE) than the best naive forecast "
        f"with a recurrent network of at most {MAX_WEIGHTS:,} weights (the table counts them).",
        "Weights grow with the square of the hidden size. Which cell learns the most per weight?",
        "GRU vs LSTM on a day of electricity",
        (DAY_AHEAD, SERIES),
        _small_forecaster,
    ),
)
