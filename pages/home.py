"""Home: what the playground is, and the labs."""

import streamlit as st

from ui.startup import ensure_router, warm_up

ensure_router()

st.title(":material/science: Gradient Playground")
st.markdown(
    "Live experiments for an intermediate PyTorch course. Every lab trains a small "
    "network **right here, in seconds**, while you move the sliders: change one thing, "
    "press **Play**, and watch what happens to the loss, the gradients and the units. "
    "Everything runs offline on data that ships with the playground."
)
st.subheader("Labs")
LABS = [
    (
        "pages/gradients.py",
        "Watch gradients vanish in deep sigmoid networks and explode with large weights, "
        "then cure them with ReLU/ELU, Xavier/Kaiming initialization, BatchNorm and "
        "gradient clipping.",
    ),
    (
        "pages/optimizers.py",
        "Race SGD, momentum, Adagrad, RMSprop and Adam fairly (same weights, same batches), with "
        "learning-rate schedules and your own CSV, and watch their paths on 2-D loss surfaces.",
    ),
    (
        "pages/images.py",
        "Build a CNN, choose augmentations (and see when not to: a flip turns a left arrow into a right "
        "one), watch its feature maps, and read per-class precision and recall on digits, shapes or your "
        "own zip of photos.",
    ),
    (
        "pages/predict.py",
        "Photograph a digit on paper, drop in any picture or draw one, and see what a trained CNN "
        "makes of it: every preprocessing step, the top classes, the feature maps and a Grad-CAM "
        "heatmap of the pixels behind the answer; many images give a table to download.",
    ),
    (
        "pages/multitask.py",
        "Give a CNN a second input (the alphabet of a character) and a second output (character and "
        "alphabet at once), weight the two losses with a slider, sweep the weights to see the trade-off, "
        "and watch an unnormalised MSE drown a classifier.",
    ),
    (
        "pages/sequences.py",
        "Forecast electricity and temperatures with an RNN, an LSTM and a GRU side by side, split by "
        "time, against naive forecasts they must beat; see why the plain RNN forgets, and how a "
        "shuffled split flatters a model.",
    ),
    (
        "pages/overfitting.py",
        "Train on fifty digits and watch the validation loss part from the training loss; close the gap "
        "with more data, a smaller network, dropout, weight decay or early stopping; search learning rates "
        "on a grid or at random; and reuse a network trained on some alphabets to learn new ones from five "
        "examples.",
    ),
]
# Each card's link, the lab's name, is its most prominent text (a page link is drawn at 14 px, smaller
# than the 16 px sentence under it); st.container(key=...) gives its cards the class .st-key-lab-cards.
st.html(
    "<style>.st-key-lab-cards [data-testid='stPageLink'] p "
    "{font-size: 1.4rem; font-weight: 600; line-height: 1.4}</style>"
)
with st.container(key="lab-cards"):
    for page, sentence in LABS:
        with st.container(border=True):
            st.page_link(page, icon=":material/arrow_forward:", icon_position="right")  # title: app.py's
            st.write(sentence)
st.caption(f"Training on: {warm_up()}.")
