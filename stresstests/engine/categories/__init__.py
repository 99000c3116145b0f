"""The test categories (RIME's word): one module per category, each registering its tests with `@register`.

Modules are grouped by the modality of the data they test: `tabular/` today, `text/` beside it when text datasets
arrive. Importing this package imports every category module, which fills `base.REGISTRY`.
"""

from __future__ import annotations

import importlib

# (modality, module) in the order a report lists them.
CATEGORY_MODULES = (
    ("tabular", "model_performance"), ("tabular", "subset_performance"), ("tabular", "drift"),
    ("tabular", "abnormal_inputs"), ("tabular", "data_cleanliness"), ("tabular", "transformations"),
    ("tabular", "adversarial"), ("tabular", "fairness"),
)

for _modality, _module in CATEGORY_MODULES:
    importlib.import_module(f"{__name__}.{_modality}.{_module}")
