"""The engine's vocabulary: RIME's names for tasks, test categories, risk groups, severities and test outcomes.

A leaf module: it imports nothing of the project, and everything else may import it.
"""

from __future__ import annotations

SEVERITY_PASS = "SEVERITY_PASS"
SEVERITY_WARNING = "SEVERITY_WARNING"
SEVERITY_ALERT = "SEVERITY_ALERT"
SEVERITY_ORDER = {SEVERITY_PASS: 0, SEVERITY_WARNING: 1, SEVERITY_ALERT: 2}

MODEL_TASK_BINARY_CLASSIFICATION = "MODEL_TASK_BINARY_CLASSIFICATION"
MODEL_TASK_MULTICLASS_CLASSIFICATION = "MODEL_TASK_MULTICLASS_CLASSIFICATION"
MODEL_TASK_REGRESSION = "MODEL_TASK_REGRESSION"
MODEL_TASK_RANKING = "MODEL_TASK_RANKING"
MODEL_TASK_NATURAL_LANGUAGE_INFERENCE = "MODEL_TASK_NATURAL_LANGUAGE_INFERENCE"
# Tasks whose predictions are (n, k) class probabilities and whose labels are class indices or names. Natural
# language inference (premise, hypothesis -> entailment / neutral / contradiction) is multiclass classification of
# a text pair: everything that holds for multiclass holds for it; it also needs two text features (runner).
MULTICLASS_TASKS = frozenset({MODEL_TASK_MULTICLASS_CLASSIFICATION, MODEL_TASK_NATURAL_LANGUAGE_INFERENCE})
# The tasks a test supports unless it says otherwise: every task, ranking (pointwise learning-to-rank, one real score
# per row, rows grouped into queries by `data_params.ranking_info.query_col`) included. A ranking model is probed like
# a regression model (its scores' shift, in prediction spreads) and its relevance grades are numeric labels
# (Context.label_values).
ALL_TASKS = frozenset({MODEL_TASK_BINARY_CLASSIFICATION, MODEL_TASK_REGRESSION, MODEL_TASK_RANKING}) | MULTICLASS_TASKS
SUPPORTED_TASKS = ALL_TASKS
RANKING_TASKS = frozenset({MODEL_TASK_RANKING})
# Tasks whose predictions are one real number per row, not class probabilities.
SCORE_TASKS = frozenset({MODEL_TASK_REGRESSION, MODEL_TASK_RANKING})
CLASSIFICATION_TASKS = frozenset({MODEL_TASK_BINARY_CLASSIFICATION}) | MULTICLASS_TASKS

TEST_CATEGORY_TYPE_MODEL_PERFORMANCE = "TEST_CATEGORY_TYPE_MODEL_PERFORMANCE"
TEST_CATEGORY_TYPE_SUBSET_PERFORMANCE = "TEST_CATEGORY_TYPE_SUBSET_PERFORMANCE"
TEST_CATEGORY_TYPE_SUBSET_PERFORMANCE_DEGRADATION = "TEST_CATEGORY_TYPE_SUBSET_PERFORMANCE_DEGRADATION"
TEST_CATEGORY_TYPE_TRANSFORMATIONS = "TEST_CATEGORY_TYPE_TRANSFORMATIONS"
TEST_CATEGORY_TYPE_ADVERSARIAL = "TEST_CATEGORY_TYPE_ADVERSARIAL"
TEST_CATEGORY_TYPE_DRIFT = "TEST_CATEGORY_TYPE_DRIFT"
TEST_CATEGORY_TYPE_ABNORMAL_INPUTS = "TEST_CATEGORY_TYPE_ABNORMAL_INPUTS"
TEST_CATEGORY_TYPE_DATA_CLEANLINESS = "TEST_CATEGORY_TYPE_DATA_CLEANLINESS"
TEST_CATEGORY_TYPE_BIAS_AND_FAIRNESS = "TEST_CATEGORY_TYPE_BIAS_AND_FAIRNESS"
TEST_CATEGORY_TYPE_DATA_POISONING_DETECTION = "TEST_CATEGORY_TYPE_DATA_POISONING_DETECTION"
TEST_CATEGORY_TYPE_EVASION_ATTACK_DETECTION = "TEST_CATEGORY_TYPE_EVASION_ATTACK_DETECTION"

RISK_GROUP_OPERATIONAL = "operational"
RISK_GROUP_SECURITY = "security"
RISK_GROUP_FAIRNESS = "fairness"
RISK_GROUP = {
    TEST_CATEGORY_TYPE_MODEL_PERFORMANCE: RISK_GROUP_OPERATIONAL,
    TEST_CATEGORY_TYPE_SUBSET_PERFORMANCE: RISK_GROUP_OPERATIONAL,
    TEST_CATEGORY_TYPE_SUBSET_PERFORMANCE_DEGRADATION: RISK_GROUP_OPERATIONAL,
    TEST_CATEGORY_TYPE_TRANSFORMATIONS: RISK_GROUP_OPERATIONAL,
    TEST_CATEGORY_TYPE_DRIFT: RISK_GROUP_OPERATIONAL,
    TEST_CATEGORY_TYPE_ABNORMAL_INPUTS: RISK_GROUP_OPERATIONAL,
    TEST_CATEGORY_TYPE_DATA_CLEANLINESS: RISK_GROUP_OPERATIONAL,
    TEST_CATEGORY_TYPE_ADVERSARIAL: RISK_GROUP_SECURITY,
    TEST_CATEGORY_TYPE_DATA_POISONING_DETECTION: RISK_GROUP_SECURITY,
    TEST_CATEGORY_TYPE_EVASION_ATTACK_DETECTION: RISK_GROUP_SECURITY,
    TEST_CATEGORY_TYPE_BIAS_AND_FAIRNESS: RISK_GROUP_FAIRNESS,
}
ALL_CATEGORIES = tuple(RISK_GROUP)
CATEGORY_DISPLAY_NAMES = {
    TEST_CATEGORY_TYPE_MODEL_PERFORMANCE: "Model Performance",
    TEST_CATEGORY_TYPE_SUBSET_PERFORMANCE: "Subset Performance",
    TEST_CATEGORY_TYPE_SUBSET_PERFORMANCE_DEGRADATION: "Subset Performance Degradation",
    TEST_CATEGORY_TYPE_TRANSFORMATIONS: "Transformations",
    TEST_CATEGORY_TYPE_DRIFT: "Drift",
    TEST_CATEGORY_TYPE_ABNORMAL_INPUTS: "Abnormal Inputs",
    TEST_CATEGORY_TYPE_DATA_CLEANLINESS: "Data Cleanliness",
    TEST_CATEGORY_TYPE_ADVERSARIAL: "Adversarial",
    TEST_CATEGORY_TYPE_DATA_POISONING_DETECTION: "Data Poisoning Detection",
    TEST_CATEGORY_TYPE_EVASION_ATTACK_DETECTION: "Evasion Attack Detection",
    TEST_CATEGORY_TYPE_BIAS_AND_FAIRNESS: "Bias and Fairness",
}
DEFAULT_STRESS_TEST_CATEGORIES = (
    TEST_CATEGORY_TYPE_ADVERSARIAL, TEST_CATEGORY_TYPE_MODEL_PERFORMANCE,
    TEST_CATEGORY_TYPE_SUBSET_PERFORMANCE, TEST_CATEGORY_TYPE_TRANSFORMATIONS,
)

# The modality of a run, set by the data as in RIME: `data_params.text_features` makes a dataset text; otherwise it
# is tabular. A test runs only on the modalities it names (StressTest.modalities).
MODALITY_TABULAR = "tabular"
MODALITY_TEXT = "text"
MODALITIES = (MODALITY_TABULAR, MODALITY_TEXT)
ALL_MODALITIES = frozenset(MODALITIES)   # tests that read only labels and predictions serve every modality


def modality_for(text_features: list[str] | tuple[str, ...] | None) -> str:
    """The modality of data whose data_params name these text features."""
    return MODALITY_TEXT if text_features else MODALITY_TABULAR

FEATURE_TYPES = ("numeric", "categorical", "boolean", "text", "datetime", "identifier")
REQUIREMENTS = frozenset({"labels", "predictions", "model", "protected_features"})

# A test's outcome in a run (a skipped test says why; an errored one carries the message).
STATUS_COMPLETED = "completed"
STATUS_SKIPPED = "skipped"
STATUS_ERROR = "error"


def worst_severity(severities: list[str] | tuple[str, ...]) -> str:
    if not severities:
        return SEVERITY_PASS
    return max(severities, key=lambda s: SEVERITY_ORDER[s])
