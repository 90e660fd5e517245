"""Errors that carry one sentence a student can read."""


class ConfigError(ValueError):
    """A setting that cannot work; its message is shown to the user as it is."""
