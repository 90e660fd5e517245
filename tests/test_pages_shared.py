"""What every lab page shares through ui.page: the same top, and one sentence when runs cannot be built."""

from __future__ import annotations

import pytest

from tests.apptest import open_page

LABS = {
    "pages/gradients.py": ("Gradients lab", "a network"),
    "pages/optimizers.py": ("Optimizers lab", "a network"),
    "pages/images.py": ("Images lab", "a CNN"),
    "pages/multitask.py": ("Two inputs, two outputs", "a model"),
    "pages/sequences.py": ("Sequences lab", "a network"),
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
