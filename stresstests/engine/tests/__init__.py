"""Category modules; importing this package fills `base.REGISTRY`."""

from __future__ import annotations

import importlib

CATEGORY_MODULES = (
    "model_performance", "subset_performance", "drift", "abnormal_inputs", "data_cleanliness",
    "transformations", "adversarial", "fairness",
)

for _module in CATEGORY_MODULES:
    try:
        importlib.import_module(f"{__name__}.{_module}")
    except ModuleNotFoundError as error:
        # Tolerated only while a category module is still being written; the import must work when it exists.
        if error.name != f"{__name__}.{_module}":
            raise
