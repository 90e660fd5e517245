"""What every lab page shares through ui.page: the same top, and one sentence when runs cannot be built."""

from __future__ import annotations

import pytest

from core.live import LEFT
from tests.apptest import open_page

LABS = {
    "pages/gradients.py": ("Gradients lab", "a network"),
    "pages/optimizers.py": ("Optimizers lab", "a network"),
    "pages/images.py": ("Images lab", "a CNN"),
    "pages/multitask.py": ("Two inputs, two outputs", "a model"),
    "pages/sequences.py": ("Sequences lab", "a network"),
    "pages/overfitting.py": ("Overfitting and tuning", "a network"),
}


@pytest.mark.parametrize("page", LABS)
def test_every_lab_has_a_title_a_caption_and_its_presets(page):
    at = open_page(page)
    title, _ = LABS[page]
    assert title in at.title[0].value
    assert at.caption and len(at.caption[0].value) > 40
    assert any(md.value.startswith("**Presets:**") for md in at.markdown)
    assert len(at.button) >= 3  # the presets, then Play, Pause, Step and Reset


@pytest.mark.parametrize("page", LABS)
def test_runs_that_cannot_be_built_give_one_sentence_and_no_trace(page, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")  # what a too-large model does to a small server

    monkeypatch.setattr("ui.page.sync_runs", broken)
    at = open_page(page)
    _, what = LABS[page]
    assert [e.value for e in at.error] == [
        f"These settings could not be built into {what}; try a smaller one."
    ]
    assert not at.exception


LAB_KEYS = {"pages/gradients.py": "grad", "pages/optimizers.py": "opt", "pages/images.py": "img",
            "pages/multitask.py": "mt", "pages/sequences.py": "seq",
            "pages/overfitting.py": "fit"}  # fmt: skip


@pytest.mark.parametrize("page", LABS)
def test_every_lab_plays_through_its_worker_and_pauses_when_left(page):
    """Play starts the session's worker (the script run returns at once); leaving the page pauses it."""
    at = open_page(page)
    worker = at.session_state[f"{LAB_KEYS[page]}:worker"]
    at.session_state[f"{LAB_KEYS[page]}:speed"] = "slow"  # the speed control: long enough to leave mid-run
    next(b for b in at.button if b.label == "Play").click()
    at.run()
    assert worker.busy and worker.snapshot().playing
    assert any("playing at Slow speed" in c.value for c in at.caption)
    at.switch_page("pages/home.py")
    at.run()
    assert not worker.snapshot().playing and worker.wait_idle(30)
    at.switch_page(page)
    at.run()
    assert any(i.value == LEFT for i in at.info) and not at.exception
    assert any("· paused" in c.value for c in at.caption)
