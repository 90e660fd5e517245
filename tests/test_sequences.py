"""Windows, splits, baselines, recurrent models and SeqRun on small hand-made series."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from core.config import OptimConfig, from_values, to_values
from core.data.series import Series, electricity
from core.errors import ConfigError
from core.sequences.compare import lab_configs, results_rows, verdict
from core.sequences.config import CellConfig, SeqConfig, SeqTrainConfig, WindowConfig
from core.sequences.figures import forecast_chart, input_gradient_chart, mse_curves, series_split
from core.sequences.models import CELLS, build_forecaster, parameter_count
from core.sequences.run import SeqRun
from core.sequences.windows import last_value, make_windows, seasonal_naive
from core.training import Status, run_all


def ramp(n: int = 20) -> np.ndarray:
    return np.arange(n, dtype=np.float64)


def tiny_series(days: int = 14) -> Series:
    """Hourly: a daily sine and a little noise, dull and quick."""
    rng = np.random.default_rng(0)
    n = days * 24
    times = np.datetime64("2024-01-01T00:00", "ns") + np.arange(n) * np.timedelta64(1, "h")
    values = 10 + 3 * np.sin(2 * np.pi * np.arange(n) / 24) + rng.normal(0, 0.1, n)
    return Series("Tiny", "kW", times, values)


def tiny_cfg(cell: str = "gru", **window) -> SeqConfig:
    return SeqConfig(
        window=WindowConfig(**({"seq_len": 12, "horizon": 2, "stride": 2} | window)),
        model=CellConfig(cell=cell, hidden=4),
        optim=OptimConfig(name="adam", lr=0.01),
        train=SeqTrainConfig(batch_size=8, steps=6, eval_every=3, eval_windows=40),
    )


# ---- windows -----------------------------------------------------------------------------


def test_windows_by_hand():
    w = make_windows(ramp(20), WindowConfig(seq_len=3, horizon=2, stride=3, test_fraction=0.25))
    assert w.split_at == 15
    assert w.train_starts.tolist() == [0, 3, 6, 9]  # the last training target, 10 + 3 + 1 = 14, is before 15
    assert w.test_starts.tolist() == [12, 13, 14, 15]  # every target from step 15 on, stride 1
    assert (w.mean, w.std) == pytest.approx((7.0, np.std(np.arange(15))))  # the training period only
    x, y = w.inputs(torch.tensor([3])), w.targets(torch.tensor([3]))
    assert x.shape == (1, 3, 1) and y.shape == (1, 2)  # (batch, sequence, features), (batch, horizon)
    assert w.original(x[0, :, 0]).tolist() == pytest.approx([3, 4, 5])
    assert w.original(y[0]).tolist() == pytest.approx([6, 7])


@pytest.mark.parametrize(
    "seq_len,horizon,stride,fraction", [(3, 1, 1, 0.2), (24, 24, 5, 0.3), (7, 3, 2, 0.5)]
)
def test_no_test_target_lies_in_the_training_period(seq_len, horizon, stride, fraction):
    values = ramp(300)
    w = make_windows(
        values, WindowConfig(seq_len=seq_len, horizon=horizon, stride=stride, test_fraction=fraction)
    )
    train_targets = w.original(w.targets(w.train_starts)).round().astype(int)  # a ramp: value = index
    test_targets = w.original(w.targets(w.test_starts)).round().astype(int)
    assert train_targets.max() < w.split_at <= test_targets.min()
    assert test_targets.max() == len(values) - 1  # and the test period is used to its end
    changed = values.copy()
    changed[w.split_at :] *= 100  # the future does not move the normalisation
    again = make_windows(
        changed, WindowConfig(seq_len=seq_len, horizon=horizon, stride=stride, test_fraction=fraction)
    )
    assert (again.mean, again.std) == (w.mean, w.std)


def test_a_shuffled_split_puts_test_targets_inside_training_windows():
    w = make_windows(ramp(200), WindowConfig(seq_len=10, horizon=1, stride=1, split="shuffled"), seed=0)
    assert len(set(w.train_starts.tolist()) & set(w.test_starts.tolist())) == 0
    seen = {int(i) for s in w.train_starts.tolist() for i in range(s, s + 11)}
    targets = (w.test_starts + 10).tolist()
    assert sum(t in seen for t in targets) / len(targets) > 0.9  # the leak, measured


@pytest.mark.parametrize(
    "n,window,words",
    [
        (5, WindowConfig(seq_len=8, horizon=1), "fewer than one window needs (8 inputs + 1 to predict = 9)"),
        (40, WindowConfig(seq_len=30, horizon=2, test_fraction=0.5), "training period holds 20 values"),
        (40, WindowConfig(seq_len=4, horizon=12, test_fraction=0.2), "fewer than the horizon of 12"),
    ],
)
def test_a_series_too_short_for_its_windows_gets_one_sentence(n, window, words):
    with pytest.raises(ConfigError) as err:
        make_windows(ramp(n), window)
    assert words in str(err.value)


def test_naive_baselines_by_hand():
    w = make_windows(ramp(40), WindowConfig(seq_len=6, horizon=3, stride=1, test_fraction=0.25))
    s = torch.tensor([20])  # inputs 20..25, targets 26, 27, 28
    assert w.original(last_value(w, s)[0]).tolist() == pytest.approx([25, 25, 25])
    assert w.original(seasonal_naive(w, s, season=2)[0]).tolist() == pytest.approx([24, 25, 24])


# ---- models ------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", CELLS.names())
def test_each_cell_maps_batch_sequence_features_to_the_horizon(cell):
    model = build_forecaster(CellConfig(cell=cell, hidden=5, layers=2), horizon=3, seed=0)
    out, _ = model(torch.randn(4, 7, 1))
    assert out.shape == (4, 3)
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[cell]
    first, second = gates * (5 * 1 + 5 * 5 + 2 * 5), gates * (5 * 5 + 5 * 5 + 2 * 5)
    assert parameter_count(model) == first + second + 5 * 3 + 3
    again = build_forecaster(CellConfig(cell=cell, hidden=5, layers=2), horizon=3, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), again.parameters(), strict=True))


def test_rolling_forward_feeds_predictions_back_in():
    model = build_forecaster(CellConfig(cell="lstm", hidden=4), horizon=1, seed=0)
    x = torch.randn(2, 5, 1)
    rolled = model.roll(x, 3)
    with torch.no_grad():
        first = model.predict(x)  # (2, 1)
        longer = torch.cat([x, first.unsqueeze(-1)], dim=1)  # the state carried on = the window grown by one
        second = model.predict(longer)
    assert rolled.shape == (2, 3)
    assert torch.allclose(rolled[:, :1], first) and torch.allclose(rolled[:, 1:2], second, atol=1e-6)


# ---- the run -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def series() -> Series:
    return tiny_series()


def test_cells_see_the_same_windows_and_batches(series):
    runs = [SeqRun(tiny_cfg(cell), series) for cell in CELLS.names()]
    orders = [[run._batches.next().tolist() for _ in range(5)] for run in runs]
    assert orders[0] == orders[1] == orders[2]
    assert all(torch.equal(run.windows.train_starts, runs[0].windows.train_starts) for run in runs)


def test_a_run_trains_records_plain_values_and_resets_to_its_start(series):
    run = SeqRun(tiny_cfg("gru"), series)
    start = [p.detach().clone() for p in run.model.parameters()]
    records = run.advance(100, max_seconds=60)
    assert len(records) == 6 and run.status is Status.FINISHED
    assert [e.step for e in run.evals] == [0, 3, 6]
    assert all(isinstance(r.loss, float) and r.seconds > 0 for r in records)
    assert len(run.evals[-1].input_grads) == 12 and run.seconds_per_step() > 0
    run.reset()
    assert run.step == 0 and all(
        torch.equal(a, b) for a, b in zip(start, run.model.parameters(), strict=True)
    )


def test_the_test_mse_is_torchmetrics_and_matches_a_hand_computation(series):
    run = SeqRun(tiny_cfg("lstm"), series)
    w = run.windows
    with torch.no_grad():
        pred = run.model.predict(w.inputs(run._test_eval))
    assert run.evals[0].test_mse == pytest.approx(
        F.mse_loss(pred, w.targets(run._test_eval)).item(), rel=1e-5
    )


def test_input_gradients_match_autograd_window_by_window(series):
    run = SeqRun(tiny_cfg("rnn"), series)
    w, probe = run.windows, run._probe[:3]
    norms = []
    for s in probe:
        x = w.inputs(s[None]).requires_grad_(True)
        F.mse_loss(run.model.predict(x), w.targets(s[None])).backward()
        norms.append(x.grad[0, :, 0].abs())
    run._probe = probe
    assert run_all(run.input_gradients()) == pytest.approx(torch.stack(norms).mean(dim=0).tolist(), rel=1e-4)


def test_a_huge_learning_rate_diverges_as_a_result(series):
    cfg = dataclasses.replace(tiny_cfg("rnn"), optim=OptimConfig(name="sgd", lr=100.0, momentum=0.0))
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, clip_norm=0.0, steps=200))
    run = SeqRun(cfg, series)
    run.advance(200, max_seconds=60)
    assert run.status is Status.DIVERGED and run.step == run.diverged_at < 200
    assert results_rows({"RNN": run})[0]["status"] == f"diverged at step {run.diverged_at}"


def test_forecasts_cover_the_start_of_the_test_period_in_the_series_unit(series):
    run = SeqRun(tiny_cfg("gru"), series)
    f = run.forecast()
    assert f.times[0] == series.times[run.windows.split_at] and len(f.truth) == len(f.one_step)
    first_midnight = 24 - run.windows.split_at % 24  # the test period starts at 05:00
    assert f.length == 24 and f.horizon == 2 and f.origins.tolist() == [first_midnight]
    assert str(f.times[first_midnight])[11:16] == "00:00"
    assert np.isfinite(f.multi[first_midnight : first_midnight + 24]).all() and np.isnan(f.multi[0])
    assert 5 < np.nanmean(f.one_step) < 15  # kW, not normalised
    day_before = run.windows.split_at + first_midnight - 24
    assert f.seasonal_multi[first_midnight] == pytest.approx(series.values[day_before])
    assert run.forecast() is f  # cached until the next evaluation


def test_a_bad_setting_is_one_sentence():
    with pytest.raises(ConfigError, match="hidden size"):
        SeqRun(dataclasses.replace(tiny_cfg(), model=CellConfig(hidden=0)), tiny_series())
    with pytest.raises(ConfigError, match="Valid names: rnn, lstm, gru"):
        SeqRun(dataclasses.replace(tiny_cfg(), model=CellConfig(cell="transformer")), tiny_series())


# ---- side by side, flat values, figures ----------------------------------------------------


def test_lab_configs_name_the_split_only_when_two_are_compared():
    assert list(lab_configs(SeqConfig(), ["gru", "rnn"], ["time"])) == ["RNN", "GRU"]
    both = lab_configs(SeqConfig(), ["lstm"], ["time", "shuffled"])
    assert list(both) == ["LSTM · time split", "LSTM · shuffled split"]
    assert [c.window.split for c in both.values()] == ["time", "shuffled"]


def test_flat_values_round_trip():
    cfg = tiny_cfg("lstm", split="shuffled")
    assert from_values(to_values(cfg), SeqConfig()) == cfg  # the one flat form of every lab
    assert from_values({"model.hidden": 7}, cfg).model == CellConfig(cell="lstm", hidden=7)


def test_the_results_table_puts_runs_then_baselines(series):
    runs = {"GRU": SeqRun(tiny_cfg("gru"), series)}
    rows = results_rows(runs)
    assert [r["model"] for r in rows] == ["GRU", "Last value (naive)", "Same time the day before (naive)"]
    assert "test MSE" in verdict(runs["GRU"])
    runs["GRU"].baselines = {"Exact": 0.0}  # a naive forecast can be perfect on a clean series
    assert verdict(runs["GRU"]).endswith("not below 'exact' (0.0000)")


def test_every_figure_builds(series):
    run = SeqRun(tiny_cfg("gru"), series)
    run.advance(6, max_seconds=60)
    assert series_split(series.times, series.values, 200, name="Tiny", unit="kW").layout.title.text
    assert len(mse_curves({"GRU": run.evals}, run.baselines).data) == 4
    assert len(input_gradient_chart({"GRU": run.evals[-1].input_grads}).data) == 1
    for kind in ("one_step", "multi"):
        assert forecast_chart({"GRU": run.forecast()}, kind=kind, unit="kW").data[0].name == "truth"


def test_the_generated_electricity_series_fits_the_default_windows():
    w = make_windows(electricity().values, SeqConfig().window)
    assert len(w.train_starts) > 1000 and len(w.test_starts) > 1000
