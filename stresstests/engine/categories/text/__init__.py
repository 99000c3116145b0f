"""Text versions of the test categories (RIME's NLP tests): they run when the data names `text_features`.

Each module registers tests whose `modalities` hold MODALITY_TEXT; categories/__init__.py imports them.
"""

from . import subset_performance, drift, abnormal_inputs, data_cleanliness  # noqa: F401,E402
