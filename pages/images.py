"""Images lab: build a CNN, choose augmentations, see feature maps, read per-class recall."""

import streamlit as st

from core.images.run import ImageRun
from ui import lessons
from ui.charts import presenting
from ui.labs import images as lab
from ui.labs.images import code, data
from ui.live import live_view, transport
from ui.page import build_runs, fair_note, lab_top
from ui.presets import lab_tabs
from ui.startup import ensure_router

ensure_router()
settings = lab_top(
    lab.PAGE,
    ":material/image: Images lab",
    "Convolution, padding and pooling; augmentation, and when not to augment; precision and recall "
    "per class. Build a CNN, press **Play**, and watch its feature maps and per-class recall change.",
)

with st.sidebar:
    lab.sidebar(settings)
lab.write_link(settings)

images, data_key = data.dataset(lab.data_config(settings))
if images is None:
    st.stop()
cfgs = lab.configs(settings)
runs, errors = build_runs(
    lab.LAB, cfgs, data_key=data_key, build=lambda cfg: ImageRun(cfg, images), what="a CNN"
)

train_tab, eval_tab, aug_tab, arch_tab, data_tab = lab_tabs(
    ["Training", "Evaluation", "Augmentation", "Architecture", "Data"]
)
with data_tab:
    data.draw_data(images, data.source_label(settings.values["data.name"]))
with arch_tab:
    lab.draw_architecture(cfgs, images)
with aug_tab:
    pick = st.number_input("Training image", 0, len(images.x_train) - 1, 0, key=f"{lab.LAB}:aug_image")
    lab.draw_augmentation(cfgs, images, int(pick))
with eval_tab:
    lab.draw_evaluation(runs, data.source_label(settings.values["data.name"]))
with train_tab:
    # in presenter mode the picker waits in the sidebar: the first screen is for the curves
    index = (st.sidebar if presenting() else st).number_input(
        "Test image for the feature maps", 0, len(images.x_test) - 1, 0, key=f"{lab.LAB}:test_image"
    )
    side = transport(lab.LAB)
    if len(runs) > 1:
        fair_note(
            side,
            "A fair comparison: the same images, the same batches in the same order, and the same initial "
            "weights where the layers match.",
        )
    live_view(
        lab.LAB, lessons.checked(lab.PAGE, settings, lambda snap: lab.draw_live(snap, errors, int(index)))
    )
    code.draw_code({label: cfg for label, cfg in cfgs.items() if label not in errors}, images)
