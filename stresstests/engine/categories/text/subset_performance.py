"""Subset Performance and Subset Performance Degradation on text (RIME's NLP versions): the tabular tests of
categories/tabular/subset_performance.py over the derived text attributes (categories/text/derived.py): quantile
bins of text.char_length, text.token_count, text.avg_token_length and text.non_alpha_share, and the values of
text.script; the same metrics, thresholds, minimum subset and class sizes, confidence bounds and
Benjamini-Hochberg control. Examples carry the row's text."""

from __future__ import annotations

from stresstests.engine.base import REGISTRY
from stresstests.engine.categories.tabular.subset_performance import SUBSET_METRICS
from stresstests.engine.categories.text.derived import on_text_attributes

for _metric in SUBSET_METRICS:
    for _key in (f"subset_{_metric}", f"subset_drift_{_metric}"):
        on_text_attributes(REGISTRY[_key], description=REGISTRY[_key].description.replace(
            "per feature", "per text attribute (length, token count, script ...)").replace(
            "feature subset's", "text attribute subset's"))
