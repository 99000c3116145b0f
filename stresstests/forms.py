"""Forms of the Create Stress Test wizard. Field labels follow the seed's wording (Select Model, Select File, ...)."""
from __future__ import annotations

import hmac
import uuid
from pathlib import PurePath

from django import forms

from projects.registries.forms import HF_MODEL_URI_HELP, HuggingFaceUploadFields, MultipleFileField
from projects.models import Dataset, Integration, ModelTask, Project, TestCategory, TestSensitivity, ValidityStatus

from .models import ConfigMode
from stresstests.engine.vocabulary import MODEL_TASK_NATURAL_LANGUAGE_INFERENCE

from .wizard_checks import is_text_run, text_feature_count_problem
from .wizard_uploads import UploadCheck, check_dataset_upload, check_predictions_upload

DATASET_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq", ".jsonl", ".jsonl.gz", ".json", ".json.gz")
MODEL_FILE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".py", ".zip", ".cbm", ".catb", ".ubj", ".skops", ".onnx")
NATIVE_ALONE_SUFFIXES = (".json", ".txt")
MAX_SEED = 2**63 - 1
REGISTRY_SECRET_NAMES = ("secret_access_key", "AWS_SECRET_ACCESS_KEY", "token")
INTEGRATION_INPUT = forms.TextInput(attrs={"list": "integration-names", "autocomplete": "off"})


def split_names(value: str) -> list[str]:
    return [name.strip() for name in (value or "").split(",") if name.strip()]


def _suffix(name: str) -> str:
    suffixes = [s.lower() for s in PurePath(name).suffixes]
    return "".join(suffixes[-2:]) if suffixes[-1:] == [".gz"] else "".join(suffixes[-1:])


# ---- step 1: Test Configuration ---------------------------------------------------------------------------------
class ConfigurationForm(forms.Form):
    config_mode = forms.ChoiceField(label="Test Configuration", choices=ConfigMode.choices, initial=ConfigMode.PROJECT)
    categories = forms.MultipleChoiceField(
        label="Risk types", choices=TestCategory.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    name = forms.CharField(label="Run name", max_length=200)
    random_seed = forms.IntegerField(
        label="Random seed", required=False, min_value=0, max_value=MAX_SEED,
        help_text="The same seed, data and model give the same results.",
    )
    global_test_sensitivity = forms.ChoiceField(
        label="Sensitivity",
        required=False,
        choices=[("", "As in the project configuration"), *TestSensitivity.choices],
    )

    def clean(self):
        data = super().clean()
        if data.get("config_mode") == ConfigMode.CUSTOM and not data.get("categories"):
            self.add_error("categories", "Choose at least one type of risk to evaluate, or use the project configuration.")
        return data


# ---- step 2: Model ----------------------------------------------------------------------------------------------
class RegisteredModelForm(forms.Form):
    model = forms.ModelChoiceField(label="Select Model", queryset=None, empty_label=None, widget=forms.RadioSelect,
                                   error_messages={"required": "Choose a registered model."})

    def __init__(self, *args, project: Project, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model"].queryset = project.models.order_by("-created_at")

    def clean_model(self):
        return _valid_artifact(self.cleaned_data["model"], "Model")


def _valid_artifact(row, kind: str):
    if row.validity_status == ValidityStatus.INVALID:
        raise forms.ValidationError(f"{kind} {row.name} is invalid: {row.validity_message}")
    return row


def file_stem(file_name: str) -> str:
    """A name from a file's name: "fraud_ref.csv" -> "fraud_ref", "events.jsonl.gz" -> "events"."""
    name = PurePath(file_name).name
    for suffix in (".gz", *sorted({*DATASET_SUFFIXES, *MODEL_FILE_SUFFIXES, ".zip"}, key=len, reverse=True)):
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
    return PurePath(name).stem or name


def free_name(taken, wanted: str) -> str:
    """`wanted`, or "wanted 2", "wanted 3", ... when a registered artifact of the project already has it."""
    names = set(taken.filter(name__startswith=wanted).values_list("name", flat=True))
    return wanted if wanted not in names else next(f"{wanted} {n}" for n in range(2, len(names) + 3)
                                                   if f"{wanted} {n}" not in names)


NAME_HELP = "Leave it empty to use the file's name."


class ModelUploadForm(forms.Form):
    name = forms.CharField(label="Model name", max_length=200, required=False, help_text=NAME_HELP)
    tags = forms.CharField(label="Tags", required=False, help_text="Comma-separated, e.g. fraud, xgboost.")
    files = MultipleFileField(
        label="Model file",
        help_text="A .pkl or .py file. A model.py may come with its artifact files, or give a .zip of its folder.",
    )

    def __init__(self, *args, project: Project, replaceable: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.project = project
        self.replaceable = replaceable  # the name of the draft's own model that failed its check

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if name != self.replaceable and self.project.models.filter(name=name).exists():
            raise forms.ValidationError(f"A model named “{name}” is already registered; choose it under Select Model "
                                        "or give this one another name.")
        return name

    def clean_tags(self) -> list[str]:
        return split_names(self.cleaned_data.get("tags", ""))

    def clean_files(self):
        files = self.cleaned_data["files"]
        # XGBoost (.json) and LightGBM (.txt) files are models alone, artifacts beside a model.py otherwise.
        single_native = len(files) == 1 and _suffix(files[0].name) in NATIVE_ALONE_SUFFIXES
        models = [f for f in files if _suffix(f.name) in MODEL_FILE_SUFFIXES or single_native]
        if not models:
            raise forms.ValidationError(
                "Choose a model file: a .pkl (or .joblib) file, a model.py with its artifacts, or a .zip of its folder."
            )
        python_files = [f for f in files if _suffix(f.name) == ".py"]
        if len(files) > 1 and not python_files:
            raise forms.ValidationError("Only a model.py comes with artifact files; give a single .pkl or .zip file.")
        if len(python_files) > 1 and not any(f.name == "model.py" for f in python_files):
            raise forms.ValidationError("Several .py files were given; the entry point must be named model.py.")
        return files

    def clean(self):
        data = super().clean()
        if not data.get("name") and data.get("files"):
            # The artifact names the model better than "model.py" does (model.py + fraud_model.catb -> fraud_model).
            artifacts = [f for f in data["files"] if _suffix(f.name) != ".py"] or data["files"]
            wanted = self.replaceable or file_stem(artifacts[0].name)[:200]
            data["name"] = wanted if wanted == self.replaceable else free_name(self.project.models, wanted)
        return data


class ModelRegistryForm(forms.Form):
    registry = forms.CharField(
        label="Registry name", max_length=100, help_text="An integration of this workspace.",
        widget=forms.TextInput(attrs={"list": "integration-names", "autocomplete": "off"}),
    )
    uri = forms.CharField(label="URI or path", max_length=1000, help_text="e.g. s3://models/fraud/model.py")
    # The seed's registry secret. The registry's credentials stay, encrypted, in its integration (an admin sets them);
    # a secret typed here is checked against them and never stored or shown again.
    secret = forms.CharField(
        label="Registry secret", required=False, strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Its secret access key or token, checked against the one stored in the registry's integration; "
                  "blank uses the stored credentials.",
    )
    name = forms.CharField(label="Model name", max_length=200)
    tags = forms.CharField(label="Tags", required=False)

    def __init__(self, *args, project: Project, replaceable: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.project = project
        self.replaceable = replaceable

    def clean_registry(self) -> Integration:
        return integration_by_name(self.project, self.cleaned_data["registry"], kind="registry")

    def clean(self):
        data = super().clean()
        registry, secret = data.get("registry"), data.get("secret")
        if secret and registry is not None and not _is_stored_secret(registry, secret):
            self.add_error("secret", f"That is not the secret stored for registry “{registry.name}”.")
        return data

    def clean_name(self) -> str:
        return ModelUploadForm.clean_name(self)  # same uniqueness rule

    def clean_tags(self) -> list[str]:
        return split_names(self.cleaned_data.get("tags", ""))


class HuggingFaceModelForm(HuggingFaceUploadFields):
    """A Hugging Face model: its save_pretrained folder (or an archive of it) uploaded, or its URI."""

    name = forms.CharField(label="Model name", max_length=200, required=False,
                           help_text="Leave it empty to use the folder's name.")
    tags = forms.CharField(label="Tags", required=False, help_text="Comma-separated, e.g. sentiment, bert.")
    model_uri = forms.CharField(label="Or its model URI", max_length=1000, required=False, help_text=HF_MODEL_URI_HELP)
    integration = forms.CharField(
        label="Integration (optional)", max_length=100, required=False, widget=INTEGRATION_INPUT,
        help_text="For an s3:// URI, the S3 integration holding its credentials; for a private hub model, a "
                  "Hugging Face integration.")
    tokenizer_uri = forms.CharField(label="Tokenizer URI (optional)", max_length=1000, required=False,
                                    help_text="Empty when the tokenizer is saved with the model.")
    field_order = ["name", "tags", "hf_folder", "hf_archive", "model_uri", "integration", "tokenizer_uri", "class_map",
                   "ignore_class_names"]

    def __init__(self, *args, project: Project, replaceable: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.project = project
        self.replaceable = replaceable

    clean_name = ModelUploadForm.clean_name
    clean_tags = ModelUploadForm.clean_tags

    def clean_integration(self) -> Integration | None:
        name = self.cleaned_data.get("integration", "").strip()
        return integration_by_name(self.project, name, kind="integration") if name else None

    @property
    def uses_uri(self) -> bool:
        return bool(self.cleaned_data.get("model_uri", "").strip())

    def clean(self):
        data = super().clean()
        if self.uses_uri:
            if data.get("hf_folder") or data.get("hf_archive"):
                self.add_error("model_uri", "Give the folder, an archive or a URI: only one of them.")
        else:
            self.clean_hf_upload(data)
            if data.get("tokenizer_uri"):
                self.add_error("tokenizer_uri", "An uploaded folder holds its tokenizer; the tokenizer URI is for a "
                                                "model given by URI.")
        if not data.get("name") and "name" not in self.errors and not self.errors:
            wanted = self.replaceable or self._default_name(data)[:200]
            data["name"] = wanted if wanted == self.replaceable else free_name(self.project.models, wanted)
        return data

    def _default_name(self, data: dict) -> str:
        if self.uses_uri:
            return data["model_uri"].strip().rstrip("/").rpartition("/")[2] or "Hugging Face model"
        if data.get("hf_archive"):
            return file_stem(data["hf_archive"].name)
        paths = data.get("relative_paths") or []
        top = {p.replace("\\", "/").split("/")[0] for p in paths if "/" in p}
        return top.pop() if len(top) == 1 else "Hugging Face model"

    def register_kwargs(self) -> dict:
        """services.run_register_model's keyword arguments for this model."""
        data = self.cleaned_data
        if not self.uses_uri:
            return self.hugging_face_upload()
        return {"integration": data.get("integration"),
                "model_config": {"hugging_face": {
                    "model_uri": data["model_uri"].strip(), "tokenizer_uri": data.get("tokenizer_uri", "").strip(),
                    "class_map": data.get("class_map") or {},
                    "ignore_class_names": bool(data.get("ignore_class_names"))}}}


def _is_stored_secret(integration: Integration, typed: str) -> bool:
    stored = integration.get_secrets()
    # Every stored secret is compared (each in constant time), so timing does not tell which one matched.
    matches = [hmac.compare_digest(typed.encode(), stored[name].encode())
               for name in REGISTRY_SECRET_NAMES if stored.get(name)]
    return any(matches)


def integration_by_name(project: Project, name: str, *, kind: str) -> Integration:
    name = name.strip()
    integration = project.workspace.integrations.filter(name=name).first()
    if integration is None:
        known = ", ".join(project.workspace.integrations.values_list("name", flat=True)) or "none yet"
        raise forms.ValidationError(f"No {kind} named “{name}” in this workspace (integrations: {known}).")
    return integration


# ---- steps 3 and 4: Reference / Evaluation Dataset --------------------------------------------------------------
TEXT_FEATURES_HELP = ("Comma-separated: the columns of free text the model reads, for a text model (RIME's "
                      "text_features). Empty for tabular data.")
NLI_TEXT_FEATURES_HELP = "The premise column, then the hypothesis column, e.g. “premise, hypothesis”."
NLI_TEXT_FEATURES_REQUIRED = ("Natural language inference reads two text columns: name the premise column, then the "
                              "hypothesis column.")
TEXT_MODEL_FEATURES_HELP = ("Comma-separated: the columns of free text the model reads (RIME's text_features). "
                            "Required: the model is a Hugging Face text model.")
TEXT_MODEL_FEATURES_REQUIRED = ("The model is a Hugging Face text model: name the column(s) of free text it reads, or "
                                "the run would test it as tabular data.")


class TextFeaturesMixin(forms.Form):
    """The reference step's *Text features* (the run's data_params.text_features, for both datasets). The field
    exists only when the view passes `text_task` (the project's task); NLI needs exactly two columns."""

    text_features = forms.CharField(label="Text features", max_length=2000, required=False,
                                    help_text=TEXT_FEATURES_HELP)

    def __init__(self, *args, text_task: str | None = None, text_model: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.text_task = text_task
        if text_task is None:
            del self.fields["text_features"]
        elif text_task == MODEL_TASK_NATURAL_LANGUAGE_INFERENCE:
            self.fields["text_features"].required = True
            self.fields["text_features"].help_text = NLI_TEXT_FEATURES_HELP
            self.fields["text_features"].error_messages["required"] = NLI_TEXT_FEATURES_REQUIRED
        elif text_model:   # a Hugging Face model reads text: without text features the run would be tabular
            self.fields["text_features"].required = True
            self.fields["text_features"].help_text = TEXT_MODEL_FEATURES_HELP
            self.fields["text_features"].error_messages["required"] = TEXT_MODEL_FEATURES_REQUIRED

    def clean_text_features(self) -> list[str]:
        features = split_names(self.cleaned_data.get("text_features", ""))
        if len(set(features)) != len(features):
            raise forms.ValidationError("A column is named twice.")
        problem = text_feature_count_problem(features, self.text_task or "")
        if problem:
            raise forms.ValidationError(problem)
        return features

    def check_text_columns(self, check: UploadCheck | None) -> None:
        """An upload's text features against its columns: each must exist and hold text."""
        if "text_features" not in self.fields:   # the evaluation step: named once, with the reference
            return
        features = self.cleaned_data.get("text_features") or []
        left_empty = not str(self.data.get(self.add_prefix("text_features")) or "").strip()
        if left_empty and check and check.text_columns and self.fields["text_features"].required:
            self._propose_text_columns(check)
        if not features or not check or check.error or not check.columns or "text_features" in self.errors:
            return
        for column in features:
            if column not in check.columns:
                self.add_error("text_features", f"“{column}” is not a column of {check.file_name}; its columns are "
                                                f"{', '.join(check.columns[:30])}.")
            elif column in check.not_text:
                self.add_error("text_features", f"“{column}” holds {check.not_text[column]} values, not text.")

    def _propose_text_columns(self, check: UploadCheck) -> None:
        """Required but empty: the upload's columns that read like free text are proposed (filled in when there is
        exactly the number the task reads)."""
        proposed = [c for c in check.text_columns if c != check.prediction_column]
        if not proposed:
            return
        wanted = 2 if self.text_task == MODEL_TASK_NATURAL_LANGUAGE_INFERENCE else 1
        listing = ", ".join(f"“{c}”" for c in proposed)
        if len(proposed) == wanted:
            data = self.data.copy()
            data[self.add_prefix("text_features")] = ", ".join(proposed)
            self.data = data
            advice = "filled in below: check it and choose the file again"
        else:
            advice = "name the one(s) the model reads"
        self.errors.pop("text_features", None)
        self.add_error("text_features", f"{self.fields['text_features'].error_messages['required']} "
                                        f"{listing} in {check.file_name} read(s) like free text: {advice}.")


class RegisteredDatasetForm(TextFeaturesMixin, forms.Form):
    """Picked from a searchable list (a radio per dataset); a dataset's exact name is accepted too (scripts)."""

    dataset = forms.CharField(label="Select Dataset", max_length=200,
                              error_messages={"required": "Choose a registered dataset."})

    def __init__(self, *args, project: Project, **kwargs):
        super().__init__(*args, **kwargs)
        self.project = project

    def choices(self):
        return self.project.datasets.order_by("-created_at")

    def clean_dataset(self) -> Dataset:
        value = self.cleaned_data["dataset"].strip()
        try:
            dataset = self.project.datasets.filter(id=uuid.UUID(value)).first()
        except ValueError:
            dataset = self.project.datasets.filter(name=value).first()
        if dataset is None:
            known = ", ".join(self.project.datasets.order_by("name").values_list("name", flat=True)[:20])
            raise forms.ValidationError(
                f"No dataset named “{value}” in this project. Registered datasets: {known or 'none yet'}."
            )
        return _valid_artifact(dataset, "Dataset")


class ProtectedFeaturesForm(forms.Form):
    """Bias and Fairness at the evaluation step: the protected features, likely ones proposed."""

    protected_features = forms.MultipleChoiceField(
        label="Protected features", widget=forms.CheckboxSelectMultiple,
        help_text="The columns Bias and Fairness compares groups on. Proposed: columns named like a protected "
                  "attribute with few distinct values.",
    )

    def __init__(self, *args, run, data_check, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["protected_features"].choices = [
            (name, f"{name} (proposed)" if name in data_check.proposed_protected else name)
            for name in data_check.protected_candidates
        ]
        own = ((run.config or {}).get("data_params") or {}).get("protected_features")
        project = (run.project.test_suite_config or {}).get("protected_features")
        self.fields["protected_features"].initial = own or project or data_check.proposed_protected
        if is_text_run(run):
            self.fields["protected_features"].required = False
            self.fields["protected_features"].help_text = (
                "Optional for text: Bias and Fairness swaps gender terms, names and countries in the text without "
                "any. Columns ticked here also get the tabular fairness tests.")


class PredictionsToggleMixin(forms.Form):
    """The optional *Predictions* toggle: its fields are required only when it is on."""

    predictions_fields: tuple[str, ...] = ()
    required_predictions_fields: tuple[str, ...] = ()

    def predictions_bound_fields(self):
        return [self[name] for name in self.predictions_fields]

    def clean(self):
        data = super().clean()
        if data.get("with_predictions"):
            for name in self.required_predictions_fields:
                if not data.get(name) and name not in self.errors:
                    self.add_error(name, "Required when Predictions is on.")
        return data


QUERY_COL_HELP = "Ranking: the column that groups rows into queries (RIME's ranking_info.query_col)."


class QueryColumnMixin(forms.Form):
    """The query column of a ranking project's datasets; the field exists only for ranking projects."""

    query_col = forms.CharField(label="Query column", max_length=200, required=False, help_text=QUERY_COL_HELP)

    def __init__(self, *args, project: Project, **kwargs):
        super().__init__(*args, **kwargs)
        if project.model_task == ModelTask.RANKING:
            self.fields["query_col"].required = True
        else:
            del self.fields["query_col"]


def ranking_params(data: dict) -> dict:
    """data_params entries for the query column, as RIME nests it."""
    return {"ranking_info": {"query_col": data["query_col"]}} if data.get("query_col") else {}


class ConnectionDatasetForm(QueryColumnMixin, PredictionsToggleMixin, TextFeaturesMixin):
    connection = forms.CharField(label="Connection name", max_length=100, widget=INTEGRATION_INPUT)
    table_name = forms.CharField(label="Table name", max_length=200)
    timestamp_col = forms.CharField(label="Timestamp column", max_length=200, required=False)
    label_col = forms.CharField(label="Label column", max_length=200)
    with_predictions = forms.BooleanField(label="Predictions (optional)", required=False)
    pred_connection = forms.CharField(
        label="Predictions connection name", max_length=100, required=False, widget=INTEGRATION_INPUT
    )
    pred_table_name = forms.CharField(label="Predictions table name", max_length=200, required=False)
    pred_timestamp_col = forms.CharField(label="Predictions timestamp column (optional)", max_length=200, required=False)
    pred_col = forms.CharField(label="Prediction column", max_length=200, required=False)
    predictions_fields = ("pred_connection", "pred_table_name", "pred_timestamp_col", "pred_col")
    required_predictions_fields = ("pred_connection", "pred_table_name", "pred_col")

    def __init__(self, *args, project: Project, **kwargs):
        super().__init__(*args, project=project, **kwargs)
        self.project = project

    def clean_connection(self) -> Integration:
        return integration_by_name(self.project, self.cleaned_data["connection"], kind="connection")

    def clean_pred_connection(self) -> Integration | None:
        name = self.cleaned_data.get("pred_connection", "")
        if not name or not self.cleaned_data.get("with_predictions"):
            return None
        return integration_by_name(self.project, name, kind="connection")


class UploadDatasetForm(QueryColumnMixin, PredictionsToggleMixin, TextFeaturesMixin):
    name = forms.CharField(label="Dataset name", max_length=200, required=False, help_text=NAME_HELP)
    label_col = forms.CharField(label="Label column", max_length=200)
    timestamp_col = forms.CharField(label="Timestamp column (optional)", max_length=200, required=False)
    file = forms.FileField(label="Dataset file", help_text="csv, Parquet, jsonl, jsonl.gz or json.gz.")
    with_predictions = forms.BooleanField(label="Predictions (optional)", required=False)
    pred_label_col = forms.CharField(
        label="Predictions label column", max_length=200, required=False,
        help_text="If the predictions file also holds the label, its column name (it is not a prediction).",
    )
    pred_col = forms.CharField(label="Prediction column (optional)", max_length=200, required=False)
    pred_file = forms.FileField(
        label="Predictions file", required=False,
        help_text="Leave it empty when the prediction column is in the dataset file itself.",
    )
    keep_prediction_like = forms.BooleanField(
        label="Test columns that look like predictions as features", required=False,
        help_text="Columns such as preds, score or prob_* holding values between 0 and 1 are left out of the "
                  "features unless you tick this.",
    )
    # RIME's upload form also asks for a predictions name; predictions are keyed by (model, dataset) here, so it has none.
    predictions_fields = ("pred_label_col", "pred_col", "pred_file")

    def __init__(self, *args, project: Project, label_required: bool = True, **kwargs):
        super().__init__(*args, project=project, **kwargs)
        self.project = project
        self.fields["label_col"].required = label_required
        self.check: UploadCheck | None = None
        self.predictions_check: UploadCheck | None = None

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if self.project.datasets.filter(name=name).exists():
            raise forms.ValidationError(f"A dataset named “{name}” already exists; pick it as a registered dataset or "
                                        "give this upload another name.")
        return name

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if _suffix(upload.name) not in DATASET_SUFFIXES:
            raise forms.ValidationError(
                f"{upload.name} is not a supported dataset file: use csv, Parquet, jsonl, jsonl.gz or json.gz."
            )
        return upload

    def clean(self):
        data = super().clean()
        if not data.get("name") and data.get("file") and "name" not in self.errors:
            data["name"] = free_name(self.project.datasets, file_stem(data["file"].name)[:200])
        if data.get("file") and "label_col" not in self.errors:
            self.check = check_dataset_upload(data["file"], label_col=data.get("label_col") or None,
                                              model_task=self.project.model_task)
            if self.check.error:
                self.add_error("file", self.check.error)
        self._check_named_columns(data)
        self.check_text_columns(self.check)
        if data.get("with_predictions") and data.get("pred_file") and self.check and not self.check.error:
            self.predictions_check = check_predictions_upload(
                data["pred_file"], pred_col=data.get("pred_col") or None,
                label_col=data.get("pred_label_col") or None, n_rows=self.check.rows,
            )
            if self.predictions_check.error:
                self.add_error("pred_file", self.predictions_check.error)
        return data

    @property
    def kept_prediction_like(self) -> list[str]:
        """Prediction-like columns the user asked to test as features (stored as data_params.keep_as_features)."""
        if not self.cleaned_data.get("keep_prediction_like") or not self.check:
            return []
        return [c["column"] for c in self.check.prediction_like]

    @property
    def predictions_in_dataset_file(self) -> bool:
        """Predictions toggled on without a file: the prediction column lies in the dataset file itself."""
        return bool(self.cleaned_data.get("with_predictions") and not self.cleaned_data.get("pred_file"))

    def _check_named_columns(self, data: dict) -> None:
        columns = self.check.columns if self.check and not self.check.error else []
        if data.get("with_predictions") and not data.get("pred_file") and not data.get("pred_col"):
            self.add_error("pred_file", "Add a predictions file, or name the prediction column of the dataset file.")
        named = [("timestamp_col", data.get("timestamp_col")), ("query_col", data.get("query_col"))]
        if data.get("with_predictions") and not data.get("pred_file"):
            named.append(("pred_col", data.get("pred_col")))
        for field, column in named:
            if column and columns and column not in columns and field not in self.errors:
                self.add_error(field, f"“{column}” is not a column of {self.check.file_name}.")


DATASET_SOURCES = {
    "registered": ("A registered dataset", RegisteredDatasetForm),
    "connection": ("From a connection", ConnectionDatasetForm),
    "upload": ("Upload a file", UploadDatasetForm),
}
MODEL_SOURCES = {
    "registered": ("A registered model", RegisteredModelForm),
    "upload": ("Upload a model file", ModelUploadForm),
    "registry": ("From an online registry", ModelRegistryForm),
    "hugging_face": ("A Hugging Face model", HuggingFaceModelForm),
}
