"""The Gradients lab's core: its run, presets, charts and what else it alone uses."""
