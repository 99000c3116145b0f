"""Template filters for error text a user has to act on. Method: a model's load error is the library's raw text; when
it is a missing file (FileNotFoundError / "No such file or directory: '…'", CatBoost's "Model file doesn't exist: …",
joblib/pickle open errors), `missing_file_summary` names the file in one sentence and the page keeps the raw text
behind a <details> disclosure."""
from __future__ import annotations

import re
from pathlib import PurePath

from django import template

register = template.Library()

# Each pattern captures the missing path; the first one that matches wins.
MISSING_FILE_PATTERNS = (
    re.compile(r"Model file doesn't exist:\s*(?P<path>[^\s()]+)"),                       # CatBoost
    re.compile(r"No such file or directory:\s*['\"](?P<path>[^'\"]+)['\"]"),             # open(), joblib, pickle
    re.compile(r"FileNotFoundError:\s*(?:\[Errno 2\]\s*)?['\"]?(?P<path>[^'\"\s]+\.\w+)"),
    re.compile(r"(?:file|path)\s+['\"](?P<path>[^'\"]+)['\"]\s+(?:does not exist|not found)", re.I),
)


def missing_file(message: str) -> str:
    """The name of the file a load error says is missing, or "" when the error is of another kind."""
    for pattern in MISSING_FILE_PATTERNS:
        match = pattern.search(message or "")
        if match:
            return PurePath(match.group("path").rstrip(".,;:")).name
    return ""


@register.filter
def missing_file_summary(message: str) -> str:
    """One sentence for a missing artifact, or "" (then the page shows the message as it is)."""
    name = missing_file(str(message or ""))
    if not name:
        return ""
    script = "model.py" if "model.py" in message else "The model"
    return f"{script} needs {name}, which was not uploaded with it: add it to the upload."
