"""Images lab: build a CNN, choose augmentations, see feature maps, read per-class recall."""

import logging

import streamlit as st

from core.vision import ImageRun
from ui import images as lab
from ui.controls import show_link_problems
from ui.live import live_view, transport
from ui.presets import preset_row
from ui.runs import sync_runs
from ui.startup import ensure_router

ensure_router()
log = logging.getLogger(__name__)

st.title(":material/image: Images lab")
st.caption(
    "Convolution, padding and pooling; augmentation, and when not to augment; precision and recall "
    "per class. Build a CNN, press **Play**, and watch its feature maps and per-class recall change."
)
settings = lab.store()
show_link_problems(lab.LAB)

preset_row(lab.LAB, lab.PRESETS, lab.apply_preset)

with st.sidebar:
    lab.sidebar(settings)
lab.write_link(settings)

images, data_key = lab.dataset(settings)
if images is None:
    st.stop()
cfgs = lab.configs(settings)
try:
    runs, errors = sync_runs(lab.LAB, cfgs, data_key=data_key, build=lambda cfg: ImageRun(cfg, images))
except Exception:  # never a stack trace on screen; the server log keeps it
    log.exception("could not build the image runs")
    st.error("These settings could not be built into a CNN; try a smaller one.")
    st.stop()

train_tab, eval_tab, aug_tab, arch_tab, data_tab = st.tabs(
    ["Training", "Evaluation", "Augmentation", "Architecture", "Data"]
)
with data_tab:
    lab.draw_data(images, lab.source_label(settings))
with arch_tab:
    lab.draw_architecture(cfgs, images)
with aug_tab:
    pick = st.number_input("Training image", 0, len(images.x_train) - 1, 0, key=f"{lab.LAB}:aug_image")
    lab.draw_augmentation(cfgs, images, int(pick))
with eval_tab:
    lab.draw_evaluation(runs, lab.source_label(settings))
with train_tab:
    index = st.number_input(
        "Test image for the feature maps", 0, len(images.x_test) - 1, 0, key=f"{lab.LAB}:test_image"
    )
    transport(lab.LAB, runs)
    live_view(lab.LAB, runs, lambda tick: lab.draw_live(runs, errors, tick, int(index)))
