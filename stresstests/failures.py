"""How a run that did not finish is explained: the exceptions that stop a run and the one sentence its page shows."""
from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError

from stresstests.engine.errors import EngineError


class RunCancelled(Exception):
    """Raised inside the engine's progress callback to stop a run whose cancel was requested."""


class RunTimedOut(Exception):
    """The run went past STRESS_TEST_SOFT_TIME_LIMIT."""


def text_for_database(text: str) -> str:
    """PostgreSQL refuses NUL in text, and a model may print anything (e.g. /proc/self/environ)."""
    return text.replace("\x00", "\N{REPLACEMENT CHARACTER}")


def failure_message(error: BaseException, *, timed_out: bool = False, limit_s: float | None = None) -> str:
    """What the run page shows: the engine's own message (written for users), or a plain explanation."""
    from celery.exceptions import SoftTimeLimitExceeded

    if timed_out or isinstance(error, (RunTimedOut, SoftTimeLimitExceeded)):
        limit = round(settings.STRESS_TEST_SOFT_TIME_LIMIT if limit_s is None else limit_s)
        shown = f"{limit // 60} min" if limit >= 120 else f"{limit} s"
        return (f"The stress test ran longer than its time limit ({shown}) and was stopped. Sample fewer rows "
                "(data_params.nrows) or choose fewer test categories.")
    if isinstance(error, EngineError):
        return str(error)
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    return f"The stress test stopped on an unexpected error ({type(error).__name__}: {error}). The log below has details."
