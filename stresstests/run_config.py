"""A run's stored configuration (RIME's test_run_config) read into what the engine and the worker use: the engine's
typed RunConfig, the protected features, and the run's time limits."""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

from django.conf import settings

from stresstests.engine.config import RunConfig
from stresstests.engine.errors import ConfigError


@dataclass(frozen=True)
class TimeLimits:
    soft_s: float  # the run is stopped with a message
    hard_s: float  # the run is failed even if its engine does not stop


def time_limits_from_config(test_run_config: dict | None) -> TimeLimits:
    """The server's limits, or shorter ones asked for by the run's `run_time_info.time_limit_s` (seconds)."""
    soft, hard = float(settings.STRESS_TEST_SOFT_TIME_LIMIT), float(settings.STRESS_TEST_TIME_LIMIT)
    wanted = ((test_run_config or {}).get("run_time_info") or {}).get("time_limit_s")
    if wanted in (None, ""):
        return TimeLimits(soft, hard)
    try:
        wanted = float(wanted)
    except (TypeError, ValueError):
        raise ConfigError(f"run_time_info.time_limit_s must be a number of seconds, not {wanted!r}.") from None
    if not math.isfinite(wanted) or wanted <= 0:
        raise ConfigError("run_time_info.time_limit_s must be a positive number of seconds.")
    if wanted > soft:
        raise ConfigError(f"run_time_info.time_limit_s may be at most {soft:g} s, this server's limit.")
    return TimeLimits(wanted, wanted + max(hard - soft, 0.0))


def parse_run_config(test_run_config: dict) -> tuple[RunConfig, list[str]]:
    """The engine's typed RunConfig and the protected features of a stored test_run_config."""
    raw = copy.deepcopy(test_run_config or {})
    data_params = raw.pop("data_params", None) or {}
    suite = dict(raw.get("test_suite_config") or {})
    protected = suite.pop("protected_features", None) or data_params.get("protected_features") or []
    raw["test_suite_config"] = suite
    time_limits_from_config(raw)  # refuses a bad run_time_info.time_limit_s at submission
    return RunConfig.from_dict(raw), list(protected)
