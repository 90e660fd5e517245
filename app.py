"""Gradient Playground: the router. Pages live in pages/, logic in core/ and ui/."""

import streamlit as st

from ui.charts import present_style, present_toggle, read_present_link, write_present_link
from ui.live import leave_other_pages, server_load
from ui.startup import warm_up

st.set_page_config(page_title="Gradient Playground", page_icon=":material/science:", layout="wide")
warm_up()
read_present_link()
present_style()
page = st.navigation(
    [
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page(
            "pages/gradients.py", title="Gradients lab", icon=":material/trending_down:", url_path="gradients"
        ),
        st.Page(
            "pages/optimizers.py", title="Optimizers lab", icon=":material/speed:", url_path="optimizers"
        ),
        st.Page("pages/images.py", title="Images lab", icon=":material/image:", url_path="images"),
        st.Page("pages/predict.py", title="Predict", icon=":material/photo_camera:", url_path="predict"),
        st.Page(
            "pages/multitask.py",
            title="Two inputs, two outputs",
            icon=":material/call_split:",
            url_path="multitask",
        ),
        # the course's order: images, then multi-input/output models, then sequences
        st.Page(
            "pages/sequences.py", title="Sequences lab", icon=":material/show_chart:", url_path="sequences"
        ),
        st.Page(
            "pages/overfitting.py",
            title="Overfitting and tuning",
            icon=":material/fit_screen:",
            url_path="overfitting",
        ),
    ]
)
leave_other_pages(page.url_path)  # the labs of other pages pause: nothing trains for nobody
with st.sidebar:
    present_toggle()
    server_load()
page.run()
write_present_link()
