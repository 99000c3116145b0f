"""Where the team's shared material is: `shared/` beside the checkout (CI lays a copy there), or RIME_SHARED_DIR."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("RIME_SHARED_DIR", ROOT.parent / "shared"))
FRAUD = SHARED / "data" / "fraud"
