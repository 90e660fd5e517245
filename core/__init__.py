"""Gradient Playground's engine: pure Python and torch, never Streamlit."""
