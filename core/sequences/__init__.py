"""The Sequences lab's core: windows of a series, recurrent forecasters, their runs and presets."""
