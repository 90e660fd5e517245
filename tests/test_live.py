"""The live worker: one thread steps the runs; commands from any thread land between two steps."""

from __future__ import annotations

import gc
import math
import threading
import time
import weakref

import numpy as np
import pytest
import torch

from core import budget
from core.cnn import CNNConfig
from core.config import with_changes
from core.data.catalog import IMAGE_DATASETS
from core.images.run import ImageDataConfig, ImageRun, ImageRunConfig, ImageTrainConfig
from core.live import AWAY, LEFT, SCHEDULER, TRAINING_FAILED, LiveWorker, describe_change
from core.training import Run, Status


@pytest.fixture
def make(xor_data):
    """Factory of a worker holding label -> an MLP run of the given configs, flat out."""

    def build(configs, stale_seconds=600.0, speed="max", **sync):
        worker = LiveWorker("test", stale_seconds=stale_seconds)
        worker.set_speed(speed)
        assert worker.sync(configs, lambda cfg: Run(cfg, xor_data), **sync) == {}
        return worker

    return build


def long_cfg(tiny_cfg, steps=3000):
    return with_changes(tiny_cfg, train=dict(steps=steps, probe_every=10, eval_every=50))


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def consistent(run) -> None:
    """One record per step, steps 1, 2, 3, ... in order; evaluations in order too."""
    assert [r.step for r in run.records] == list(range(1, run.step + 1))
    steps = [e.step for e in run.evals]
    assert steps == sorted(set(steps))


def test_play_trains_in_the_background_to_the_end(make, tiny_cfg):
    worker = make({"A": tiny_cfg})
    worker.play()
    assert worker.wait_idle(30)
    snap = worker.snapshot()
    assert snap.finished and not snap.playing and not worker.busy
    assert snap.runs["A"].step == tiny_cfg.train.steps
    consistent(worker.runs["A"])


def test_pause_lands_before_the_next_step(make, tiny_cfg):
    worker = make({"A": long_cfg(tiny_cfg)})
    for _ in range(20):
        worker.play()
        wait_for(lambda: worker.snapshot().runs["A"].step > 0)
        worker.pause()
        stopped = worker.snapshot().runs["A"].step
        assert worker.wait_idle(5)
        assert worker.snapshot().runs["A"].step == stopped  # not one step after Pause returned
        assert worker.snapshot().runs["A"].status is Status.PAUSED


def test_commands_from_many_threads_never_break_a_run(make, tiny_cfg):
    """What fast reruns of many clicks do: play, pause, step, set_lr, reset, speed, all at once."""
    cfg = long_cfg(tiny_cfg)
    worker = make({"A": cfg, "B": with_changes(cfg, optim=dict(name="adam", lr=0.01))})
    errors = []

    def click(seed: int) -> None:
        try:
            for i in range(60):
                match (seed + i) % 7:
                    case 0 | 1:
                        worker.play()
                    case 2:
                        worker.pause()
                    case 3:
                        worker.step()
                    case 4:
                        worker.set_lr("A", 0.05 + 0.01 * (i % 5))
                    case 5:
                        worker.set_speed(("max", "fast", "normal")[i % 3])
                    case 6:
                        if i % 20 == 6:
                            worker.reset()
                snap = worker.snapshot()
                assert {run.step for run in snap.runs.values()} <= {snap.runs["A"].step}  # A and B in step
                time.sleep(0.002)
        except Exception as err:
            errors.append(err)

    threads = [threading.Thread(target=click, args=(seed,)) for seed in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    worker.pause()
    assert worker.wait_idle(10)
    assert errors == []
    snap = worker.snapshot()
    assert snap.error is None
    for run in worker.runs.values():
        consistent(run)
        assert run.step > 0


def test_step_trains_exactly_one_step_in_the_worker(make, tiny_cfg):
    worker = make({"A": tiny_cfg})
    main = threading.current_thread()
    run = worker.runs["A"]
    seen = []
    original = run._step

    def spy():
        seen.append(threading.current_thread())
        return original()

    run._step = spy
    worker.step()
    worker.step()
    assert worker.snapshot().runs["A"].step == 2
    assert seen and main not in seen  # the page's thread never trains


def test_a_new_learning_rate_goes_on_from_the_current_step_and_is_marked(make, tiny_cfg):
    cfg = long_cfg(tiny_cfg, steps=60)
    worker = make({"A": cfg})
    for _ in range(10):
        worker.step()
    worker.sync({"A": with_changes(cfg, optim=dict(lr=0.02))}, lambda c: pytest.fail("rebuilt"))
    worker.play()
    assert worker.wait_idle(30)
    snap = worker.snapshot()
    (change,) = snap.lr_changes["A"]
    assert (change.step, change.old, change.new, change.text) == (10, 0.1, 0.02, "lr 0.1 → 0.02")
    lrs = [r.lr for r in snap.runs["A"].records]
    assert lrs[:10] == [0.1] * 10 and lrs[10:] == [0.02] * 50
    worker.reset()
    assert worker.snapshot().lr_changes == {}


def test_another_change_keeps_the_old_run_as_before_and_plays_on(make, tiny_cfg, xor_data):
    cfg = long_cfg(tiny_cfg)
    worker = make({"A": cfg}, speed="fast")
    worker.play()
    wait_for(lambda: worker.snapshot().runs["A"].step >= 5)
    with worker.hold():  # the change and the look at it, with no step between (a loaded machine's CI
        # thread once saw the new run 7 steps on, past the old one's 5)
        errors = worker.sync({"A": with_changes(cfg, model=dict(depth=3))}, lambda c: Run(c, xor_data))
        snap = worker.snapshot()
    assert errors == {}
    before = snap.befores["A"]
    assert before.change == "depth 2 → 3" and before.step >= 5
    assert [r.step for r in before.records] == list(range(1, before.step + 1))
    assert snap.runs["A"].cfg.model.depth == 3 and snap.runs["A"].step == 0 and snap.playing
    wait_for(lambda: worker.snapshot().runs["A"].step >= 1)  # the new run plays on from step 0
    worker.pause()


def test_quick_changes_in_a_row_keep_playing_and_keep_the_first_before(make, tiny_cfg, xor_data):
    """Four presses on a slider, each before the last new run's first step: the run plays on (it used
    to stop at step 0, paused) and the faded line is still the run that had trained, changed the whole
    way to the last settings."""
    cfg = long_cfg(tiny_cfg)
    worker = make({"A": cfg}, speed="fast")
    worker.play()
    wait_for(lambda: worker.snapshot().runs["A"].step >= 5)
    with worker.hold():  # no step lands between the presses
        for depth in (3, 4, 5, 6):
            assert (
                worker.sync({"A": with_changes(cfg, model=dict(depth=depth))}, lambda c: Run(c, xor_data))
                == {}
            )
    snap = worker.snapshot()
    assert snap.runs["A"].cfg.model.depth == 6 and snap.playing
    assert snap.befores["A"].change == "depth 2 → 6" and snap.befores["A"].step >= 5
    wait_for(lambda: worker.snapshot().runs["A"].step >= 3)
    worker.pause()


def test_a_fleeting_run_does_not_take_the_place_of_the_before_that_trained(make, tiny_cfg, xor_data):
    """A run replaced after fewer than a tenth of the Before's steps is not the new Before; one that
    trained longer is."""
    cfg = long_cfg(tiny_cfg, steps=400)
    worker = make({"A": cfg})
    build = lambda c: Run(c, xor_data)  # noqa: E731
    for _ in range(100):
        worker.step()
    deeper = {depth: with_changes(cfg, model=dict(depth=depth)) for depth in (3, 4, 5)}
    worker.sync({"A": deeper[3]}, build)
    for _ in range(3):
        worker.step()
    worker.sync({"A": deeper[4]}, build)  # 3 steps of depth 3: fleeting beside 100
    before = worker.snapshot().befores["A"]
    assert (before.step, before.change, before.cfg) == (100, "depth 2 → 4", cfg)
    for _ in range(10):
        worker.step()
    worker.sync({"A": deeper[5]}, build)  # 10 steps of depth 4: a tenth of 100, a run of its own
    before = worker.snapshot().befores["A"]
    assert (before.step, before.change, before.cfg.model.depth) == (10, "depth 4 → 5", 4)
    assert [r.step for r in before.records] == list(range(1, 11))


def test_quick_presses_back_to_the_faded_runs_settings_name_the_last_change(make, tiny_cfg, xor_data):
    """depth 2 → 3 → 2 in quick presses: no "changed the data" for settings that came back; the
    fleeting depth-3 run is the faded line, its change named."""
    cfg = long_cfg(tiny_cfg, steps=400)
    worker = make({"A": cfg})
    build = lambda c: Run(c, xor_data)  # noqa: E731
    for _ in range(50):
        worker.step()
    worker.sync({"A": with_changes(cfg, model=dict(depth=3))}, build)
    worker.step()
    worker.sync({"A": cfg}, build)
    before = worker.snapshot().befores["A"]
    assert (before.step, before.change) == (1, "depth 3 → 2")


def test_a_race_restarts_together_when_a_racer_changes(make, tiny_cfg, xor_data):
    cfg = long_cfg(tiny_cfg, steps=40)
    racers = {"1": cfg, "2": with_changes(cfg, optim=dict(name="adam", lr=0.01))}
    worker = make(racers, together=True)
    for _ in range(5):
        worker.step()
    changed = racers | {"2": with_changes(cfg, optim=dict(name="rmsprop", lr=0.01))}
    assert worker.sync(changed, lambda c: Run(c, xor_data), together=True) == {}
    snap = worker.snapshot()
    assert {label: run.step for label, run in snap.runs.items()} == {"1": 0, "2": 0}
    assert snap.befores["2"].change == "name adam → rmsprop" and snap.befores["1"].change == ""


def test_a_config_that_cannot_run_is_a_sentence(make, tiny_cfg, xor_data):
    from core.errors import ConfigError

    worker = make({"A": tiny_cfg})

    def refuse(cfg):
        raise ConfigError("Depth must be at most 50.")

    errors = worker.sync({"A": with_changes(tiny_cfg, model=dict(depth=3))}, refuse)
    assert errors == {"A": "Depth must be at most 50."} and worker.snapshot().runs == {}


def test_a_diverging_run_stops_cleanly(make, tiny_cfg):
    cfg = with_changes(
        long_cfg(tiny_cfg, 200), model=dict(depth=6, activation="linear", init="normal", init_std=3.0)
    )
    worker = make({"A": cfg})
    worker.play()
    assert worker.wait_idle(30)
    snap = worker.snapshot()
    assert snap.runs["A"].status is Status.DIVERGED and snap.error is None
    assert "Diverged at step" in snap.runs["A"].message


def test_an_error_inside_training_pauses_with_one_sentence(make, tiny_cfg):
    worker = make({"A": long_cfg(tiny_cfg)})

    def broken():
        raise RuntimeError("one of the variables needed for gradient computation has been modified")

    worker.runs["A"]._step = broken
    worker.play()
    assert worker.wait_idle(10)
    snap = worker.snapshot()
    assert snap.error == TRAINING_FAILED and snap.runs["A"].status is Status.PAUSED
    worker.play()  # Play again clears the sentence (and fails again, the same way)
    assert worker.wait_idle(10) and worker.snapshot().error == TRAINING_FAILED


def test_nobody_watching_pauses_and_ends_the_thread(make, tiny_cfg):
    worker = make({"A": long_cfg(tiny_cfg)}, stale_seconds=0.3, speed="slow")
    worker.play()
    assert worker.busy
    assert worker.wait_idle(10)  # no snapshot asked for: the page is gone
    snap = worker.snapshot()
    assert not snap.playing and snap.note == AWAY and not worker.busy
    threads = [t for t in threading.enumerate() if t.name.startswith("gp-live")]
    assert len(threads) <= SCHEDULER.threads  # the scheduler's threads, never one per session


def test_a_watched_run_keeps_playing(make, tiny_cfg):
    # under the full suite one of these 0.1 s sleeps once took over 0.3 s: stale_seconds leaves room
    worker = make({"A": long_cfg(tiny_cfg)}, stale_seconds=1.0, speed="slow")
    worker.play()
    for _ in range(15):  # the page's redraws, 0.1 s apart, for longer than stale_seconds
        time.sleep(0.1)
        assert worker.snapshot().playing
    worker.pause()


def test_dropping_the_worker_frees_its_runs(make, tiny_cfg):
    worker = make({"A": long_cfg(tiny_cfg)}, stale_seconds=0.2)
    worker.play()
    run = weakref.ref(worker.runs["A"])
    assert worker.wait_idle(10)  # stale: the thread ended by itself
    del worker
    gc.collect()
    assert run() is None


def test_slow_speed_paces_the_steps(make, tiny_cfg):
    worker = make({"A": long_cfg(tiny_cfg, steps=600)}, speed="slow")  # 600 steps in 60 s: 10 a second
    assert worker.snapshot().rate == pytest.approx(10.0)
    started = time.monotonic()
    worker.play()
    time.sleep(0.3)
    while worker.snapshot().runs["A"].step == 0:  # a loaded machine may take a while for the first
        assert time.monotonic() - started < 10
        time.sleep(0.05)
    worker.pause()
    elapsed = time.monotonic() - started  # the steps the pace allows in that time, and one round more
    assert worker.snapshot().runs["A"].step <= 10 * elapsed + 2  # flat out it would be hundreds


def test_views_read_the_model_between_steps(make, tiny_cfg):
    worker = make({"A": long_cfg(tiny_cfg)})
    worker.play()
    for _ in range(30):
        *_, score = worker.snapshot().runs["A"].predict_grid(resolution=12)
        assert score.shape == (12, 12) and all(math.isfinite(v) for v in score.flatten())
    worker.pause()
    assert worker.wait_idle(5)
    consistent(worker.runs["A"])


def test_describe_change_names_each_setting():
    from core.config import RunConfig

    a = RunConfig()
    b = with_changes(a, model=dict(depth=6, activation="tanh"), train=dict(batch_size=64))
    assert describe_change(a, b) == "depth 4 → 6, activation relu → tanh, batch size 32 → 64"


def playing_connected(worker: LiveWorker, reconnect_seconds: float) -> threading.Event:
    """Play the worker's runs for a session that is connected while the returned event is set."""
    worker.reconnect_seconds = reconnect_seconds
    connected = threading.Event()
    connected.set()
    worker.connected = connected.is_set
    worker.play()
    time.sleep(0.3)
    return connected


def test_a_disconnected_session_pauses_once_it_has_not_come_back_in_time(make, tiny_cfg):
    worker = make({"A": long_cfg(tiny_cfg)}, speed="slow")
    connected = playing_connected(worker, reconnect_seconds=0.5)
    assert worker.snapshot().playing
    connected.clear()  # the tab closed: Streamlit no longer lists the session as active
    assert worker.wait_idle(5)
    assert worker.snapshot().note == AWAY


def test_a_connection_that_drops_and_comes_back_loses_nothing(make, tiny_cfg):
    """A classroom's Wi-Fi, or a server too busy to answer for a moment: the browser reconnects within
    seconds, and the run it shows has played on."""
    worker = make({"A": long_cfg(tiny_cfg)}, speed="slow")
    connected = playing_connected(worker, reconnect_seconds=5.0)
    connected.clear()
    time.sleep(1.0)  # the scheduler looks at the worker between rounds, many times a second
    before = worker.snapshot()
    connected.set()
    deadline = time.monotonic() + 10
    while (after := worker.snapshot()).runs["A"].step <= before.runs["A"].step:
        assert time.monotonic() < deadline, "the run did not go on after the connection came back"
        time.sleep(0.1)
    assert before.playing and after.playing and after.note is None


def test_a_pause_by_the_router_says_why(make, tiny_cfg):
    worker = make({"A": long_cfg(tiny_cfg)}, speed="slow")
    worker.play()
    worker.pause(note=LEFT)
    assert worker.snapshot().note == LEFT
    worker.play()
    assert worker.snapshot().note is None
    worker.pause()
    worker.pause(note=LEFT)  # already paused by the student: no sentence
    assert worker.snapshot().note is None


# ---- a pause inside an evaluation: the evaluation is split into pieces ---------------------------


@pytest.fixture
def small_pieces(monkeypatch):
    """A few examples per evaluation piece: an evaluation of the xor set takes a few dozen pieces."""
    monkeypatch.setattr(budget, "PIECE_MACS", 500)


def slowed(run, under_way: threading.Event, seconds: float = 0.02):
    """Each evaluation piece of `run` takes `seconds` longer; `under_way` is set when one starts."""
    work = run.work

    def slow_work():
        under_way.set()
        time.sleep(seconds)
        work()

    run.work = slow_work
    return run


def pause_inside_an_evaluation(worker, runs, under_way):
    """Play until an evaluation of the slowed runs is under way, then pause: the pause must land before
    it ends. The runs go back to their own speed."""
    worker.play()
    assert under_way.wait(30)
    worker.pause()
    assert any(run.evaluating for run in runs), "the pause waited for the whole evaluation"
    assert worker.wait_idle(5)
    for run in runs:
        del run.work


def test_a_pause_lands_inside_an_evaluation_and_the_numbers_do_not_change(
    make, tiny_cfg, xor_data, small_pieces
):
    cfg = long_cfg(tiny_cfg, steps=120)  # evaluations at 50, 100 and 120
    worker = make({"A": cfg})
    under_way = threading.Event()
    run = slowed(worker.runs["A"], under_way)
    pause_inside_an_evaluation(worker, [run], under_way)
    assert run.evaluating and run.status is Status.PAUSED
    assert run.step == 50 and [e.step for e in run.evals] == [0]  # step 50's record lands whole, or not yet
    snap = worker.snapshot()
    assert snap.runs["A"].step == 50 and not snap.playing
    *_, score = snap.runs["A"].predict_grid(resolution=8)  # a reader between two pieces
    assert np.isfinite(score).all()
    consistent(run)
    worker.play()
    assert worker.wait_idle(30) and run.done and not run.evaluating
    bare = Run(cfg, xor_data)
    bare.advance(cfg.train.steps, max_seconds=math.inf)
    assert run.records == bare.records and run.evals == bare.evals  # bit for bit, as if never paused


def test_step_after_a_pause_inside_an_evaluation_ends_it_and_takes_a_whole_step(
    make, tiny_cfg, xor_data, small_pieces
):
    cfg = long_cfg(tiny_cfg, steps=120)
    worker = make({"A": cfg})
    under_way = threading.Event()
    run = slowed(worker.runs["A"], under_way, seconds=0.01)
    pause_inside_an_evaluation(worker, [run], under_way)
    worker.step()
    assert run.step == 51 and run.evals[-1].step == 50 and not run.evaluating
    for _ in range(49):
        worker.step()
    assert (
        run.step == 100 and run.evals[-1].step == 100 and not run.evaluating
    )  # Step waits for its evaluation
    worker.step()
    assert run.step == 101 and run.model.training  # the next step trains in train mode
    consistent(run)


def test_a_and_b_stay_in_step_when_a_pause_lands_inside_their_evaluations(
    make, tiny_cfg, xor_data, small_pieces
):
    cfg = long_cfg(tiny_cfg, steps=100)
    other = with_changes(cfg, optim=dict(name="adam", lr=0.01))
    worker = make({"A": cfg, "B": other})
    under_way = threading.Event()
    a, b = (slowed(run, under_way) for run in worker.runs.values())
    pause_inside_an_evaluation(worker, [a, b], under_way)
    assert a.step == b.step == 50
    worker.play()
    assert worker.wait_idle(30)
    for run, config in ((a, cfg), (b, other)):
        bare = Run(config, xor_data)
        bare.advance(config.train.steps, max_seconds=math.inf)
        assert run.records == bare.records and run.evals == bare.evals


def test_a_cnn_paused_inside_its_evaluation_trains_on_in_train_mode_to_the_same_numbers(make, small_pieces):
    """BatchNorm and dropout behave differently in eval mode: a step after the interrupted evaluation
    that forgot to switch back would change the numbers."""
    images = IMAGE_DATASETS.get("shapes").load(ImageDataConfig(name="shapes", per_class=20, size=16))
    cfg = ImageRunConfig(
        data=ImageDataConfig(name="shapes", per_class=20, size=16),
        model=CNNConfig(channels=4, head=8, batchnorm=True, dropout=0.3),
        train=ImageTrainConfig(batch_size=16, steps=25, eval_every=10),
    )
    worker = LiveWorker("test", stale_seconds=600)
    worker.set_speed("max")
    assert worker.sync({"A": cfg}, lambda c: ImageRun(c, images, torch.device("cpu"))) == {}
    under_way = threading.Event()
    run = slowed(worker.runs["A"], under_way)
    pause_inside_an_evaluation(worker, [run], under_way)
    assert run.step == 10 and run.evals[-1].step == 0 and run.report.step == 0  # the last report, whole
    worker.play()
    assert worker.wait_idle(30) and run.done
    bare = ImageRun(cfg, images, torch.device("cpu"))
    bare.advance(cfg.train.steps, max_seconds=math.inf)
    assert run.records == bare.records and run.evals == bare.evals
    np.testing.assert_array_equal(run.test_pred, bare.test_pred)


def test_an_error_inside_an_evaluation_records_nothing_half_done(make, tiny_cfg, small_pieces):
    worker = make({"A": long_cfg(tiny_cfg, steps=120)})
    run = worker.runs["A"]
    pieces = 0
    forward = run.model.forward

    def failing(x):
        nonlocal pieces
        if not run.model.training:
            pieces += 1
            if pieces == 3:
                raise RuntimeError("out of memory")
        return forward(x)

    run.model.forward = failing
    worker.play()
    assert worker.wait_idle(10)
    snap = worker.snapshot()
    assert snap.error == TRAINING_FAILED and snap.runs["A"].status is Status.PAUSED
    assert run.step == 50 and [e.step for e in run.evals] == [0] and not run.evaluating
    consistent(run)
