"""Predict: upload your own images and see what the model sees, and why."""

import streamlit as st

from core.errors import escape_markdown, shorten
from ui.labs import predict as lab
from ui.startup import ensure_router

ensure_router()

st.title(":material/photo_camera: Predict")
st.caption(
    "Photograph a digit written on paper, drop in any picture, or draw one: see every step on its way "
    "into the network, the classes it finds most likely, its feature maps, and a Grad-CAM heatmap of "
    "the pixels that drove its answer (Grad-CAM: which parts of the image raised the score of a class)."
)

model_col, image_col = st.columns(2, gap="large")
with model_col:
    st.subheader("1. The model")
    predictor = lab.choose_model()
    if predictor is not None:
        choice = st.session_state.get(f"{lab.LAB}:model", lab.BUILTIN)
        lab.describe(predictor, is_builtin=choice == lab.BUILTIN)
        digits = lab.digit_steps(predictor, choice)
        lab.draw_code(predictor, digits, choice)
with image_col:
    st.subheader("2. Your images")
    images = lab.collect_images()

if predictor is None:
    st.stop()
if not images:
    st.info("Upload an image, take a photo or draw a digit to see what the model makes of it.")
    st.stop()

prepared, errors = lab.prepare_all(images, predictor, digits)
for error in errors:
    st.error(escape_markdown(error))
if not prepared:
    st.stop()
probs = lab.probabilities(prepared, predictor)
lab.notes(prepared)

if len(prepared) > 1:
    st.subheader(f"3. Predictions for {len(prepared)} images")
    lab.batch(prepared, probs, predictor)
    names = [p.name for p in prepared]
    pick = st.selectbox(
        "Look closer at", range(len(names)), format_func=names.__getitem__, key=f"{lab.LAB}:pick"
    )
    pick = pick if pick is not None and pick < len(prepared) else 0
else:
    pick = 0
one, p = prepared[pick], probs[pick]
best = int(p.argmax())
number = 4 if len(prepared) > 1 else 3
name, top = escape_markdown(shorten(one.name)), escape_markdown(shorten(predictor.class_names[best]))
st.subheader(f"{number}. '{name}': the model says **{top}** ({p[best]:.0%})")
lab.caution(one, p, predictor, digits)

st.markdown("**On its way into the network**: each step the image goes through, left to right.")
lab.steps(one)
lab.answer(one, p, predictor)
with st.expander("Feature maps of each conv layer", expanded=True):
    st.caption("What the filters of each layer respond to in this image: bright where a filter fires.")
    lab.feature_maps(one, predictor)
