"""The code pane in Chromium, as a student uses it: a run plays, a slider moves, the marked line follows,
and the zip downloaded from the page runs and gives the run's first losses."""

from __future__ import annotations

import io
import math
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from playwright.sync_api import Page, expect

from core.config import with_changes
from core.data.catalog import DATASETS
from core.gradients.presets import GRADIENT_PRESETS
from core.training import Run
from tests.browser.test_gradients_browser import (
    assert_no_stack_trace,
    choose_preset,
    ms,
    open_page,
    server_log_clean,  # noqa: F401 (an autouse fixture: the server log stays free of tracebacks)
    sidebar_widget,
)

pytestmark = pytest.mark.browser
expect.set_options(timeout=60_000)


@pytest.mark.slow
def test_the_code_follows_a_slider_moved_mid_run_and_the_zip_reproduces_it(
    page: Page, app_url: str, artifacts: Path, tmp_path: Path
) -> None:
    page.set_viewport_size({"width": 1366, "height": 768})  # a projector
    open_page(page, f"{app_url}/gradients")
    choose_preset(page, "Cured", "Cured: ELU + Kaiming + BatchNorm")
    page.get_by_role("button", name="Play").click()
    # mid-run: the learning rate one step up with the keyboard, as a student does
    lr = sidebar_widget(page, "stSlider", "Learning rate").get_by_role("slider")
    lr.focus()
    lr.press("ArrowRight")
    expander = page.get_by_test_id("stExpander").filter(has_text="PyTorch code for this setup")
    expander.get_by_text("PyTorch code for this setup").click()
    code = expander.get_by_test_id("stCode")
    expect(code).to_contain_text("# ← changed: Learning rate")
    expect(code).to_contain_text("class MLP(nn.Module):")
    code.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "gradients-code.png"))  # what the projector shows

    expander.get_by_role("button", name="Make the zip: train.py, the notebook and the data").click()
    # the download's bytes keep their name while the page reruns (the run ends meanwhile): the click
    # gets its file whenever it lands
    get = expander.get_by_role("button", name="Download gradients-a.zip")
    get.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "gradients-zip.png"))
    with page.expect_download(timeout=ms(60)) as download:
        get.click()
    data = Path(download.value.path()).read_bytes()
    names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    assert names == {"data.csv", "train.py", "train.ipynb", "README.md", "settings.json"}
    zipfile.ZipFile(io.BytesIO(data)).extractall(tmp_path)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(
        [sys.executable, "train.py", "--steps", "20"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    got = [float(line.split(",")[1]) for line in (tmp_path / "losses.csv").read_text().splitlines()[1:]]

    # the setup the zip holds: the preset with the learning rate the slider moved to
    cured = GRADIENT_PRESETS["Cured: ELU + Kaiming + BatchNorm"].a
    text = (tmp_path / "train.py").read_text()
    lr_value = float(text.split("lr=", 1)[1].split(",", 1)[0])
    assert lr_value != cured.optim.lr
    cfg = with_changes(cured, optim={"lr": lr_value})
    run = Run(cfg, DATASETS.get(cfg.data.name).load(cfg.data), torch.device("cpu"))
    run.advance(20, max_seconds=math.inf)
    assert got == [r.loss for r in run.records]
    assert_no_stack_trace(page)


@pytest.mark.slow
def test_predict_shows_its_code_and_the_built_in_model_downloads(page: Page, app_url: str) -> None:
    page.goto(f"{app_url}/predict", wait_until="domcontentloaded", timeout=ms(120))
    expander = page.get_by_test_id("stExpander").filter(has_text="PyTorch code: load this model")
    expander.get_by_text("PyTorch code: load this model").click()
    expect(expander.get_by_test_id("stCode")).to_contain_text(
        'model.load_state_dict(checkpoint["state_dict"])'
    )
    with page.expect_download(timeout=ms(60)) as download:
        expander.get_by_role("button", name="Download the built-in model (model.pt)").click()
    from core.images import builtin

    assert Path(download.value.path()).read_bytes() == builtin.PATH.read_bytes()
    assert_no_stack_trace(page)
