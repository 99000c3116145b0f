"""Category modules; importing this package fills `base.REGISTRY` (every module must import)."""

from __future__ import annotations

import importlib

CATEGORY_MODULES = (
    "model_performance", "subset_performance", "drift", "abnormal_inputs", "data_cleanliness",
    "transformations", "adversarial", "fairness",
)

for _module in CATEGORY_MODULES:
    importlib.import_module(f"{__name__}.{_module}")
