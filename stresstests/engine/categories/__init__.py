"""The test categories (RIME's word): one module per category, each registering its tests with `@register`.

Modules are grouped by the modality of the data they test: `tabular/` today, `text/` beside it when text datasets
arrive. Importing this package imports every category module, which fills `base.REGISTRY`; the order of the imports
is the order a report lists the categories in.
"""

from __future__ import annotations

from .tabular import (  # noqa: F401
    model_performance, subset_performance, drift, abnormal_inputs, data_cleanliness, transformations, adversarial,
    fairness,
)
from .tabular import (  # noqa: F401  (the tests RIME has beyond the original categories' modules)
    mutual_information, protected_features, security, embeddings, adversarial_unbounded,
    subset_average_prediction, ranking,
)
from . import text  # noqa: F401  (text categories register themselves from their modules; see text/__init__.py)
from .text import (  # noqa: F401  (issue 16: text transformations, attacks and bias swaps)
    transformations as text_transformations, adversarial as text_adversarial, bias as text_bias,
)
