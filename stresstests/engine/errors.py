"""User-facing engine errors: every message says what is wrong and how to fix it."""

from __future__ import annotations


class EngineError(Exception):
    """Base class; `str(error)` is shown to the user as is."""


class DataLoadError(EngineError):
    """A dataset or predictions file cannot be read or does not fit the run."""


class ModelLoadError(EngineError):
    """The model artifact cannot be loaded."""


class ModelOutputError(EngineError):
    """The model returned something that is not a valid prediction."""


class ConfigError(EngineError):
    """The run configuration is invalid."""
