"""Where the team's shared material is: `shared/` beside the checkout (CI lays a copy there), or RIME_SHARED_DIR.

A clone on its own has neither, so every test that reads the fraud example asks `require_fraud_data()` first: it skips
with a reason that names RIME_SHARED_DIR, and under CI=true (where shared/ is always laid) it fails instead.
"""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("RIME_SHARED_DIR", ROOT.parent / "shared"))
FRAUD = SHARED / "data" / "fraud"
FRAUD_FILES = ("fraud_ref.csv", "fraud_eval.csv", "fraud_model.catb")
MISSING_REASON = (f"the fraud example data is not at {FRAUD}: set RIME_SHARED_DIR to the shared folder "
                  "(the one holding data/fraud/), or put shared/ beside the checkout")


def fraud_data_present() -> bool:
    return all((FRAUD / name).is_file() for name in FRAUD_FILES)


def require_fraud_data() -> Path:
    """The fraud example folder; skips the calling test (fails it under CI=true) when the files are not there."""
    from tests.conftest import require

    require(fraud_data_present(), MISSING_REASON)
    return FRAUD
