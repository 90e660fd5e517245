"""Streamlit glue shared by the pages: widgets, session state, links and the live driver."""
