"""Hyperparameter search (grid and random trials, one trial, the lesson) and the shared process pool.

The pool's own tests run stdlib functions (time.sleep, math.sqrt, os._exit) as tasks: a spawned worker
then starts in a fraction of a second, without importing torch. Only the tests of search trials in the
pool pay for torch in the workers, on a pool of their own.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
import types

import numpy as np
import pytest
import torch

from core.config import with_changes
from core.errors import ConfigError
from core.overfitting import pool, poolworker, search
from core.overfitting.run import FitRun
from core.overfitting.search import SearchConfig, SearchSpace, Trial, TrialResult

# A trial of 3 epochs on 40 digits (12 steps), trained in milliseconds: the mechanics, not the lesson.
TINY = with_changes(search.BASE, model={"depth": 1, "width": 16}, train={"examples": 40, "epochs": 3})


@pytest.fixture(scope="module")
def stdlib_pool():
    p = pool.Pool(2)
    yield p
    p.shutdown()


@pytest.fixture(scope="module")
def torch_pool():
    """One worker: it proves a trial's numbers do not depend on the process, and its start-up (torch, the
    digits, the first optimizer: seconds of CPU) is paid once rather than once per core."""
    p = pool.Pool(1)
    yield p
    p.shutdown()


# ---- the trials ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("budget", search.BUDGETS)
def test_grid_takes_sqrt_budget_values_of_each_setting_at_fixed_intervals(budget):
    k = math.isqrt(budget)
    for second, log in (("momentum", False), ("weight_decay", True)):
        space = search.space_for(second)
        trials = search.grid_trials(space, budget)
        assert len(trials) == budget and len(set(trials)) == budget
        lrs = np.unique([t.lr for t in trials])
        seconds = np.unique([t.second for t in trials])
        assert len(lrs) == k and len(seconds) == k
        assert lrs[0] == pytest.approx(space.lr_low) and lrs[-1] == pytest.approx(space.lr_high)
        assert (seconds[0], seconds[-1]) == pytest.approx((space.second_low, space.second_high))
        np.testing.assert_allclose(np.diff(np.log10(lrs)), np.log10(lrs[1] / lrs[0]))  # even on a log scale
        steps = np.diff(np.log10(seconds)) if log else np.diff(seconds)
        np.testing.assert_allclose(steps, steps[0])
        assert {t.setting for t in trials} == {second}


def test_random_trials_draw_every_value_anew_seeded_and_uniform_on_the_exponent():
    space = search.space_for("momentum")
    trials = search.random_trials(space, 9, seed=3)
    assert len({t.lr for t in trials}) == 9 and len({t.second for t in trials}) == 9
    assert trials == search.random_trials(space, 9, seed=3)
    assert trials != search.random_trials(space, 9, seed=4)
    many = search.random_trials(space, 4000, seed=0)
    exponents = np.log10([t.lr for t in many])
    assert exponents.min() >= -4 and exponents.max() < 0
    assert exponents.mean() == pytest.approx(-2, abs=0.1)  # as many per decade: uniform on the exponent
    assert np.mean(exponents < -3) == pytest.approx(0.25, abs=0.03)
    momenta = np.array([t.second for t in many])
    assert momenta.min() >= 0.5 and momenta.max() < 0.99
    assert momenta.mean() == pytest.approx(0.745, abs=0.01)  # uniform on the value
    decays = np.log10([t.second for t in search.random_trials(search.space_for("weight_decay"), 4000, 0)])
    assert decays.mean() == pytest.approx(-3, abs=0.1)


def test_the_same_budget_tries_sqrt_budget_learning_rates_on_the_grid_and_budget_at_random():
    for budget in search.BUDGETS:
        grid = SearchConfig(budget=budget, method="grid")
        rand = SearchConfig(budget=budget, method="random")
        assert len({t.lr for t in search.trials_of(grid)}) == math.isqrt(budget)
        assert len({t.lr for t in search.trials_of(rand)}) == budget


@pytest.mark.parametrize(
    ("cfg", "words"),
    [
        (SearchConfig(space=SearchSpace(lr_low=0.1, lr_high=0.01)), "learning rates"),
        (SearchConfig(space=SearchSpace(lr_low=0.0)), "learning rates"),
        (SearchConfig(space=SearchSpace(second_low=0.5, second_high=1.0)), "momentum"),
        (SearchConfig(space=search.space_for("weight_decay", second_low=0.0)), "log scale"),
        (SearchConfig(space=SearchSpace(second="dropout")), "Unknown setting"),
        (SearchConfig(budget=10), "number of trials"),
        (SearchConfig(method="bayes"), "Unknown search method"),
    ],
)
def test_bad_searches_are_refused_with_one_sentence(cfg, words):
    with pytest.raises(ConfigError) as refused:
        search.validate(cfg)
    message = str(refused.value)
    assert words in message and message.endswith(".") and "\n" not in message


# ---- one trial -----------------------------------------------------------------------------------------


def test_a_trial_is_deterministic_and_never_sees_the_test_set(monkeypatch):
    trial = Trial(0.05, 0.9)
    first = search.run_trial(TINY, trial)
    assert first.same_as(search.run_trial(TINY, trial))
    assert first.lr == 0.05 and first.second == 0.9 and first.setting == "momentum"
    assert 0 <= first.epoch <= 3 and not first.diverged and first.seconds > 0
    assert len(search.validation_splits(TINY.data).x_test) == 0  # the trials' data holds no test set

    # poisoned test tensors change nothing, and the run is never asked to look at them
    clean = search.load(TINY.data)
    poisoned = dataclasses.replace(clean, x_test=torch.full_like(clean.x_test, math.nan))
    monkeypatch.setattr(search, "load", lambda data: poisoned)
    monkeypatch.setattr(FitRun, "evaluate_test", lambda self: pytest.fail("a trial looked at the test set"))
    search.validation_splits.cache_clear()
    try:
        assert search.run_trial(TINY, trial).same_as(first)
    finally:
        search.validation_splits.cache_clear()


def test_best_is_the_lowest_validation_loss_and_the_csv_lists_the_finished_trials():
    def result(lr, loss, acc):
        return TrialResult(lr, 0.9, "momentum", loss, acc, 3, False, 0.1)

    results = [result(0.1, 0.5, 0.8), None, result(0.01, 0.3, 0.7), result(1.0, math.nan, 0.1)]
    assert search.best(results) is results[2]
    assert search.best([None, None]) is None
    lines = search.to_csv({"grid": results, "random": results[:1]}).splitlines()
    assert lines[0] == (
        "method,trial,learning_rate,momentum,best_val_loss,val_accuracy,best_epoch,diverged,seconds,best"
    )
    assert [line.split(",")[:2] for line in lines[1:]] == [
        ["grid", "1"],
        ["grid", "3"],
        ["grid", "4"],
        ["random", "1"],
    ]
    assert lines[2].endswith("True") and lines[1].endswith("False")  # each search's own best
    assert lines[4].endswith("True")
    assert search.to_csv({"grid": [None]}).startswith("method,trial,")


# ---- the pool --------------------------------------------------------------------------------------------


def test_a_search_in_the_pool_equals_the_same_trials_in_turn_bit_for_bit(torch_pool):
    cfg = SearchConfig(base=TINY, budget=9, method="random", seed=1)
    job = search.start_search(cfg, on=torch_pool)
    assert job.wait(120) and job.error is None and job.progress() == (9, 9)
    here = pool.run_sequential(search.search_tasks(cfg))  # conftest: one torch thread, as in a worker
    there = job.results()
    assert all(a.same_as(b) for a, b in zip(there, here, strict=True))
    assert [(r.lr, r.second) for r in there] == [(t.lr, t.second) for t in search.trials_of(cfg)]


@pytest.mark.slow
def test_random_search_beats_the_grid_with_the_same_budget(torch_pool):
    """The lesson, on the lab's own trial: 9 trials, 3 learning rates on the grid against 9 at random.
    Over seeds 0..9 random search won 10 times of 10 (BENCHMARKS.md, bench.search); here seeds 0..2."""
    grid = search.start_search(SearchConfig(budget=9, method="grid"), on=torch_pool)
    randoms = [search.start_search(SearchConfig(budget=9, seed=s), on=torch_pool) for s in range(3)]
    for job in (grid, *randoms):
        assert job.wait(300) and job.error is None
    grid_best = search.best(grid.results())
    for job in randoms:
        assert search.best(job.results()).val_loss < grid_best.val_loss


def test_cancel_drops_the_waiting_tasks_and_keeps_the_running_ones(stdlib_pool):
    job = stdlib_pool.submit([pool.Task(time.sleep, (0.3,))] * 8)
    job.cancel()
    assert job.wait(30) and job.cancelled and job.error is None
    done, total = job.progress()
    assert done <= 2 and total == 8  # at most one task per worker had started
    assert stdlib_pool.submit([pool.Task(pow, (2, 5))]).wait(30)


def test_a_failing_task_stops_its_job_with_a_sentence_and_the_next_job_works(stdlib_pool, caplog):
    job = stdlib_pool.submit([pool.Task(math.sqrt, (-1.0,))] + [pool.Task(time.sleep, (0.2,))] * 6, "trial")
    assert job.wait(30)
    assert job.error.startswith("Trial 1 of 7 failed (ValueError: math domain error)")
    assert job.error.endswith("log.") and "Traceback" not in job.error
    assert "Traceback" in caplog.text  # the trace went to the log
    assert job.progress()[0] < 6
    after = stdlib_pool.submit([pool.Task(pow, (2, i)) for i in range(4)])
    assert after.wait(30) and after.error is None and after.results() == [1, 2, 4, 8]


def test_a_dead_worker_fails_only_its_own_job(stdlib_pool):
    beside = stdlib_pool.submit([pool.Task(time.sleep, (0.5,))] + [pool.Task(pow, (3, i)) for i in range(6)])
    doomed = stdlib_pool.submit([pool.Task(os._exit, (3,)), pool.Task(pow, (2, 2))], "trial")
    assert doomed.wait(30) and beside.wait(30)
    assert doomed.error.startswith("The worker process running trial 1 of 2 stopped (exit code 3;")
    assert doomed.results() == [None, None]  # its second task never started
    assert beside.error is None and beside.results() == [None] + [3**i for i in range(6)]
    after = stdlib_pool.submit([pool.Task(pow, (2, 10))] * 3)  # a new worker replaces the dead one
    assert after.wait(30) and after.results() == [1024] * 3


def test_two_jobs_take_turns(stdlib_pool):
    first = stdlib_pool.submit([pool.Task(time.sleep, (0.3,))] * 8)
    second = stdlib_pool.submit([pool.Task(time.sleep, (0.3,))] * 2)
    running, waiting = stdlib_pool.load()
    assert running <= 2 and running + waiting >= 8  # (the first task may have ended just now)
    assert second.wait(30)
    assert first.progress()[0] < 8 and not first.finished  # the second did not wait for all 8
    assert first.wait(30) and first.progress() == (8, 8)


def test_no_workers_runs_in_the_callers_thread_and_shutdown_stops_a_busy_pool():
    job = pool.Pool(0).submit([pool.Task(pow, (2, 3)), pool.Task(math.sqrt, (-1.0,)), pool.Task(pow, (2, 2))])
    assert job.finished and job.results() == [8, None, None] and "Task 2 of 3" in job.error

    busy = pool.Pool(1)
    job = busy.submit([pool.Task(time.sleep, (60,))] * 2)
    busy.shutdown()  # terminates the sleeping worker instead of waiting a minute
    assert job.finished and "shutting down" in job.error
    with pytest.raises(RuntimeError):
        busy.submit([pool.Task(pow, (2, 2))])


def test_a_worker_never_runs_the_servers_main_script(tmp_path, monkeypatch):
    """Streamlit installs each page script as a fake __main__; a spawned child would run it again."""
    marker, script = tmp_path / "ran", tmp_path / "page.py"
    script.write_text(f"open({str(marker)!r}, 'w').close()\n")
    page = types.ModuleType("__main__")
    page.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", page)
    fresh = pool.Pool(1)
    try:
        assert fresh.submit([pool.Task(pow, (2, 3))]).wait(30)
    finally:
        fresh.shutdown()
    assert not marker.exists()


def test_the_shared_pool_is_made_on_first_use_and_sized_by_the_environment(monkeypatch):
    pool.shutdown()
    assert pool.pool_load() == (0, 0)  # nothing made yet
    monkeypatch.setenv(pool.WORKERS_ENV, "1")
    assert pool.pool_size() == 1
    try:
        job = pool.submit([pool.Task(pow, (2, 2))] * 2)
        assert job.wait(30) and job.results() == [4, 4] and pool.shared_pool().size == 1
    finally:
        pool.shutdown()  # the next submit makes a new one


def test_idle_workers_stop_and_the_next_job_starts_new_ones():
    idle = pool.Pool(1, idle_seconds=0.5)
    try:
        assert idle.submit([pool.Task(pow, (2, 3))]).wait(60)
        first = idle._workers[0].process
        # the pool's dispatcher joins the retired worker itself: poll, never join beside it (two joins
        # race for the exit status, and the loser reads the process as alive though it has ended)
        deadline = time.monotonic() + 30
        while (idle._workers or first.is_alive()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not idle._workers and not first.is_alive()  # ~0.8 GB each on a server: given back
        job = idle.submit([pool.Task(pow, (2, 4))])
        assert job.wait(60) and job.results() == [16] and job.error is None
    finally:
        idle.shutdown()


def test_workers_run_below_the_server_in_the_cpus_queue(stdlib_pool):
    job = stdlib_pool.submit([pool.Task(os.nice, (0,))])
    assert job.wait(60) and job.results()[0] >= os.nice(0) + poolworker.WORKER_NICENESS
