"""Each Sequences preset reproduces its lesson as a measured fact on its fixed seed."""

from __future__ import annotations

import math

import pytest

from core.data.series import SERIES
from core.sequences.compare import lab_configs
from core.sequences.presets import SEQ_PRESETS
from core.sequences.run import SeqRun
from core.training import advance_together

pytestmark = pytest.mark.slow


def train(name: str) -> dict[str, SeqRun]:
    """Every run of the preset, trained to its end side by side, as the page trains them."""
    preset = SEQ_PRESETS[name]
    series = SERIES.get(preset.base.data.name).load(preset.base.data)
    runs = {
        label: SeqRun(cfg, series)
        for label, cfg in lab_configs(preset.base, preset.cells, preset.splits).items()
    }
    advance_together(list(runs.values()), max_rounds=10_000, max_seconds=600)
    assert all(run.done for run in runs.values())
    return runs


def test_lstm_and_gru_beat_both_naive_forecasts_a_day_ahead():
    runs = train("GRU vs LSTM on a day of electricity")
    for label in ("LSTM", "GRU"):
        run = runs[label]
        _, best = run.best_baseline  # the day before (last value is far worse a day ahead)
        assert run.evals[-1].test_mse < 0.7 * best, (label, run.evals[-1].test_mse, run.baselines)
        forecast = run.forecast()
        assert forecast.multi_mse < 0.7 * forecast.seasonal_multi_mse  # from each midnight, a whole day


def test_the_plain_rnns_gradient_fades_on_a_long_window():
    runs = train("A plain RNN with a long window")
    day = runs["RNN"].series.season  # 96 steps back = the same time yesterday

    def reach(label: str) -> float:
        grads = runs[label].evals[-1].input_grads
        return grads[-day] / grads[-1]  # a day back, relative to the latest step

    assert reach("RNN") < 1e-5
    assert reach("LSTM") > 100 * reach("RNN") and reach("GRU") > 100 * reach("RNN")
    _, day_before = runs["RNN"].best_baseline
    assert runs["RNN"].evals[-1].test_mse > 0.9 * day_before  # no better than yesterday
    for label in ("LSTM", "GRU"):
        assert runs[label].evals[-1].test_mse < 0.8 * day_before


def test_a_shuffled_split_scores_too_well():
    runs = train("A shuffled split leaks the future")
    honest, leaky = runs["LSTM · time split"].evals[-1], runs["LSTM · shuffled split"].evals[-1]
    assert honest.test_mse > 1.5 * honest.train_mse  # the future is harder than the past
    assert leaky.test_mse < 1.2 * leaky.train_mse  # a random test set is no harder than training

    def rmse(label: str) -> float:  # in °F: the two splits normalise by different statistics
        run = runs[label]
        return math.sqrt(run.evals[-1].test_mse) * run.windows.std

    assert rmse("LSTM · shuffled split") < 0.85 * rmse("LSTM · time split")
