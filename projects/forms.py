from __future__ import annotations

from difflib import get_close_matches

from django import forms

from stresstests.engine.config import THRESHOLD_PARAM_NAMES

from .models import ModelTask, Role, TestCategory, TestSensitivity


class WorkspaceForm(forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)


class ProjectForm(forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    model_task = forms.ChoiceField(label="Model task", choices=ModelTask.choices, initial=ModelTask.BINARY_CLASSIFICATION,
                                   help_text="Text classification is binary or multiclass classification with text "
                                             "columns (named when the datasets are added).")


class MemberAddForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


def _registered_tests() -> dict:
    import stresstests.engine.categories  # noqa: F401  (fills the registry)
    from stresstests.engine.base import REGISTRY

    return REGISTRY


class ProjectSettingsForm(forms.Form):
    """The project test configuration that *From Project Configuration* runs use."""

    categories = forms.MultipleChoiceField(
        label="Test categories", choices=TestCategory.choices, widget=forms.CheckboxSelectMultiple
    )
    global_test_sensitivity = forms.ChoiceField(
        label="Sensitivity", choices=TestSensitivity.choices, initial=TestSensitivity.DEFAULT
    )
    protected_features = forms.CharField(
        label="Protected features", required=False, help_text="Comma-separated column names for Bias and Fairness."
    )
    global_exclude_columns = forms.CharField(
        label="Excluded columns", required=False, help_text="Comma-separated columns that no test looks at."
    )
    individual_tests_config = forms.JSONField(
        label="Per-test overrides (individual_tests_config)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
        help_text='JSON, e.g. {"feature_drift": {"run": true, "severity_thresholds": [0.2, 0.6]}}',
    )

    def __init__(self, *args, text_project: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        # Text Bias and Fairness swaps words in the text (gender terms, names, countries) and needs no protected
        # feature; the tabular fairness tests then skip with their reason.
        self.text_project = text_project
        if text_project:
            self.fields["protected_features"].help_text = (
                "Comma-separated column names for Bias and Fairness. Optional for text: its word swaps (gender terms, "
                "names, countries) need none; the tabular fairness tests run only on the columns named here.")

    def clean_individual_tests_config(self):
        value = self.cleaned_data.get("individual_tests_config") or {}
        if not isinstance(value, dict):
            raise forms.ValidationError("Give a JSON object keyed by test key.")
        tests = _registered_tests()
        for key, override in value.items():
            if not isinstance(override, dict):
                raise forms.ValidationError(f"The override for “{key}” must be a JSON object.")
            if key not in tests:
                close = ", ".join(get_close_matches(key, list(tests), n=3)) or "see the engine's test list"
                raise forms.ValidationError(f"“{key}” is not a test key (did you mean: {close}?).")
            if "run" in override and not isinstance(override["run"], bool):
                raise forms.ValidationError(f"“{key}”: run must be true or false.")
            known = {"run", *tests[key].default_params, *THRESHOLD_PARAM_NAMES}
            unknown = sorted(set(override) - known)
            if unknown:
                raise forms.ValidationError(
                    f"“{key}” has no setting {', '.join(unknown)}; its settings are {', '.join(sorted(known))}."
                )
            thresholds = override.get("severity_thresholds")
            if thresholds is not None and not (
                isinstance(thresholds, list) and len(thresholds) == 2 and all(isinstance(t, (int, float)) for t in thresholds)
            ):
                raise forms.ValidationError(f"“{key}”: severity_thresholds must be [warning, alert], two numbers.")
        return value

    def clean(self):
        data = super().clean()
        protected = set(self.split_names(data.get("protected_features", "")))
        overlap = sorted(protected & set(self.split_names(data.get("global_exclude_columns", ""))))
        if overlap:
            self.add_error("global_exclude_columns", f"{', '.join(overlap)} cannot be both protected and excluded: "
                                                     "an excluded column is never tested for bias.")
        if TestCategory.BIAS_AND_FAIRNESS in (data.get("categories") or []) and not protected and not self.text_project:
            self.add_error("protected_features", "Bias and Fairness needs at least one protected feature.")
        return data

    @staticmethod
    def split_names(value: str) -> list[str]:
        return [name.strip() for name in (value or "").split(",") if name.strip()]
