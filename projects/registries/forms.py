"""Forms for integrations and for registering datasets, models and predictions.

Secret fields use widgets that never render a value back, not even the one just posted with an invalid form.
"""
from __future__ import annotations

import json

from django import forms

from .integrations import SQL_DIALECTS
from projects.models import DatasetSource, Integration, IntegrationType, ModelSource

# --- integrations -----------------------------------------------------------------------------------------------------


class WriteOnlyTextarea(forms.Textarea):
    def format_value(self, value):
        return None


def secret_field(label: str, *, textarea: bool = False, help_text: str = "") -> forms.CharField:
    widget = WriteOnlyTextarea(attrs={"rows": 4, "autocomplete": "off", "spellcheck": "false"}) if textarea else \
        forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})
    return forms.CharField(label=label, required=False, widget=widget, strip=True, help_text=help_text)


class IntegrationForm(forms.Form):
    """Base: a name plus per-type config fields (plain) and secret fields (write-only)."""

    integration_type: str = ""
    config_fields: tuple[str, ...] = ()
    secret_fields: tuple[str, ...] = ()

    name = forms.CharField(max_length=100)

    def __init__(self, *args, integration: Integration | None = None, **kwargs):
        if integration is not None and "initial" not in kwargs:
            kwargs["initial"] = {"name": integration.name, **self.initial_from_config(integration.config)}
        super().__init__(*args, **kwargs)
        self.integration = integration
        keep = "Leave blank to keep the stored value."
        stored = set(integration.secret_names) if integration else set()
        for name in self.secret_fields:
            if name in stored:
                self.fields[name].help_text = f"Stored. {keep}"

    def initial_from_config(self, config: dict) -> dict:
        return {name: config.get(name, "") for name in self.config_fields}

    def config(self) -> dict:
        return {name: self.cleaned_data.get(name) for name in self.config_fields}

    def secrets(self) -> dict[str, str]:
        return {name: self.cleaned_data.get(name) or "" for name in self.secret_fields}

    def forget(self) -> list[str]:
        return []


class S3IntegrationForm(IntegrationForm):
    integration_type = IntegrationType.S3
    config_fields = ("region", "endpoint_url")
    secret_fields = ("access_key_id", "secret_access_key")

    region = forms.CharField(max_length=50, required=False, initial="us-east-1")
    endpoint_url = forms.URLField(label="Endpoint URL", required=False, assume_scheme="https",
                                  help_text="Only for S3-compatible stores (MinIO, Ceph…); empty for AWS.")
    access_key_id = secret_field("Access key ID")
    secret_access_key = secret_field("Secret access key")


class SqlIntegrationForm(IntegrationForm):
    integration_type = IntegrationType.SQL
    config_fields = ("dialect", "host", "port", "database", "username", "sqlite_path")
    secret_fields = ("password", "url")

    dialect = forms.ChoiceField(label="Database", required=False, choices=[
        ("", "—"), ("postgresql", "PostgreSQL"), ("mysql", "MySQL / MariaDB"), ("sqlite", "SQLite")])
    host = forms.CharField(max_length=255, required=False)
    port = forms.IntegerField(required=False, min_value=1, max_value=65535)
    database = forms.CharField(max_length=255, required=False)
    username = forms.CharField(max_length=255, required=False)
    password = secret_field("Password")
    sqlite_path = forms.CharField(label="SQLite file path", max_length=1000, required=False,
                                  help_text="A file inside the server's allow-listed data folders.")
    url = secret_field("Or a connection URL", help_text="e.g. postgresql://user:password@host:5432/db — "
                                                        "replaces the fields above; stored encrypted.")

    def clean(self):
        data = super().clean()
        stored_url = self.integration is not None and "url" in self.integration.secret_names
        if data.get("url") or (stored_url and not data.get("dialect")):
            return data
        dialect = data.get("dialect")
        if dialect not in SQL_DIALECTS:
            self.add_error("dialect", "Choose the database, or give a connection URL.")
        elif dialect == "sqlite" and not data.get("sqlite_path"):
            self.add_error("sqlite_path", "Give the SQLite file path.")
        elif dialect != "sqlite" and not (data.get("host") and data.get("database")):
            self.add_error("host", "Give the host and the database name.")
        return data

    def config(self) -> dict:
        config = super().config()
        config["by_url"] = bool(self.cleaned_data.get("url")) or (
            not config.get("dialect") and self.integration is not None and "url" in self.integration.secret_names)
        return config

    def forget(self) -> list[str]:
        # Switching from a URL to fields drops the stored URL, which would otherwise win.
        return ["url"] if self.cleaned_data.get("dialect") and not self.cleaned_data.get("url") else []


class HuggingFaceIntegrationForm(IntegrationForm):
    integration_type = IntegrationType.HUGGINGFACE
    secret_fields = ("token",)

    token = secret_field("Access token", help_text="For private models (RIME's HUGGINGFACE_API_TOKEN).")


class RegistryIntegrationForm(IntegrationForm):
    integration_type = IntegrationType.MLFLOW
    config_fields = ("artifact_root", "region", "endpoint_url")
    secret_fields = ("access_key_id", "secret_access_key", "token")

    artifact_root = forms.CharField(max_length=1000, help_text="s3://bucket/registry or a server folder; "
                                    "models:/NAME/VERSION resolves to ARTIFACT_ROOT/NAME/VERSION/.")
    region = forms.CharField(max_length=50, required=False)
    endpoint_url = forms.URLField(label="Endpoint URL", required=False, assume_scheme="https")
    access_key_id = secret_field("Access key ID")
    secret_access_key = secret_field("Secret access key")
    token = secret_field("Registry token", help_text="Kept for model code that calls the registry itself.")


def parse_key_values(text: str, field: str) -> dict[str, str]:
    values = {}
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise forms.ValidationError(f"Line {number} of {field}: write KEY=value.")
        values[key.strip()] = value.strip()
    return values


class CustomIntegrationForm(IntegrationForm):
    integration_type = IntegrationType.CUSTOM

    variables = forms.CharField(label="Plain variables", required=False,
                                widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
                                help_text="KEY=value per line; readable by workspace members.")
    secret_variables = secret_field("Secret variables", textarea=True,
                                    help_text="KEY=value per line; encrypted, never shown again. Existing keys "
                                              "are kept unless given again or removed below.")
    forget_secrets = forms.MultipleChoiceField(label="Remove secret keys", required=False,
                                               widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        names = self.integration.secret_names if self.integration else []
        self.fields["forget_secrets"].choices = [(name, name) for name in names]
        if not names:
            del self.fields["forget_secrets"]

    def initial_from_config(self, config: dict) -> dict:
        return {"variables": "\n".join(f"{k}={v}" for k, v in (config.get("variables") or {}).items())}

    def clean_variables(self):
        return parse_key_values(self.cleaned_data.get("variables"), "plain variables")

    def clean_secret_variables(self):
        return parse_key_values(self.cleaned_data.get("secret_variables"), "secret variables")

    def config(self) -> dict:
        return {"variables": self.cleaned_data.get("variables") or {}}

    def secrets(self) -> dict[str, str]:
        return self.cleaned_data.get("secret_variables") or {}

    def forget(self) -> list[str]:
        return list(self.cleaned_data.get("forget_secrets") or [])


INTEGRATION_FORMS: dict[str, type[IntegrationForm]] = {
    "s3": S3IntegrationForm,
    "sql": SqlIntegrationForm,
    "huggingface": HuggingFaceIntegrationForm,
    "registry": RegistryIntegrationForm,
    "custom": CustomIntegrationForm,
}
TYPE_SLUGS = {form.integration_type: slug for slug, form in INTEGRATION_FORMS.items()}
TYPE_TITLES = {"s3": "AWS S3 / S3-compatible", "sql": "SQL database", "huggingface": "Hugging Face",
               "registry": "Model registry", "custom": "Custom"}


# --- registration -----------------------------------------------------------------------------------------------------


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, (list, tuple)):
            return [single(item, initial) for item in data]
        return [single(data, initial)] if data else []


def split_names(value: str) -> list[str]:
    return [name.strip() for name in (value or "").split(",") if name.strip()]


class FolderInput(MultipleFileInput):
    """Picks a whole folder (`webkitdirectory`); static/js/app.js copies each file's relative path into the hidden
    field named by data-relative-paths, since browsers send bare file names."""

    def __init__(self, relative_paths_field: str = "relative_paths"):
        super().__init__(attrs={"webkitdirectory": True, "data-relative-paths": relative_paths_field})


CLASS_MAP_HELP = "The model's output indices and your labels, e.g. “0: negative, 1: positive”, or JSON."


def parse_class_map(text) -> dict[str, str]:
    """`0: negative, 1: positive` (commas or new lines, `:` or `=`) or a JSON object -> {"0": "negative", ...}.
    Only the shape is checked here; the registry checks that the indices run 0, 1, 2, … without gaps."""
    if isinstance(text, dict):
        pairs = [(str(k), v) for k, v in text.items()]
    else:
        text = (text or "").strip()
        if not text:
            return {}
        if text.startswith("{"):
            try:
                loaded = json.loads(text)
            except json.JSONDecodeError as error:
                raise forms.ValidationError(f"The class map is not valid JSON ({error.msg} at character "
                                            f"{error.pos + 1}).") from None
            if not isinstance(loaded, dict):
                raise forms.ValidationError("The class map must be a JSON object.")
            pairs = [(str(k), v) for k, v in loaded.items()]
        else:
            pairs = [_class_pair(item) for item in text.replace("\n", ",").replace("\r", "").split(",") if item.strip()]
    mapping: dict[str, str] = {}
    for index, name in pairs:
        index = index.strip()
        if not index.isdigit():
            raise forms.ValidationError(f"“{index}” is not a class index: indices are 0, 1, 2, ….")
        if not isinstance(name, str) or not name.strip():
            raise forms.ValidationError(f"Class {index} has no name.")
        key = str(int(index))
        if key in mapping:
            raise forms.ValidationError(f"Class {key} is given twice.")
        mapping[key] = name.strip()
    return mapping


def _class_pair(item: str) -> tuple[str, str]:
    for separator in (":", "="):
        index, found, name = item.partition(separator)
        if found:
            return index, name
    raise forms.ValidationError(f"“{item.strip()}” is not “index: name”; write e.g. “0: negative, 1: positive”.")


class ClassMapField(forms.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("label", "Class map")
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", CLASS_MAP_HELP)
        kwargs.setdefault("widget", forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off"}))
        super().__init__(**kwargs)

    def to_python(self, value):
        return parse_class_map(super().to_python(value))

    def prepare_value(self, value):
        if isinstance(value, dict):
            return ", ".join(f"{k}: {v}" for k, v in value.items())
        return value


def parse_relative_paths(value: str) -> list[str]:
    if not (value or "").strip():
        return []
    try:
        paths = json.loads(value)
    except json.JSONDecodeError:
        paths = None
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise forms.ValidationError("The folder's file paths were garbled; choose the folder again.")
    return paths


class HuggingFaceUploadFields(forms.Form):
    """A `save_pretrained` folder (or an archive of it) with the class map and the ignore-names switch; the wizard's
    model step and the registries' model form share these fields."""

    hf_folder = MultipleFileField(label="Model folder", required=False, widget=FolderInput(),
                                  help_text="The folder written by save_pretrained: config.json, the weights "
                                            "(model.safetensors or pytorch_model.bin) and the tokenizer files.")
    hf_archive = forms.FileField(label="Or an archive of the folder", required=False,
                                 help_text=".zip or .tar.gz; its single top folder is fine.")
    relative_paths = forms.CharField(required=False, widget=forms.HiddenInput)
    class_map = ClassMapField()
    ignore_class_names = forms.BooleanField(
        label="Ignore class names", required=False,
        help_text="Use the class map (or the project's labels) instead of the names in the model's config.json.")
    upload_fields = ("hf_folder", "hf_archive", "relative_paths", "class_map", "ignore_class_names")

    def clean_relative_paths(self) -> list[str]:
        return parse_relative_paths(self.cleaned_data.get("relative_paths", ""))

    def clean_hf_archive(self):
        archive = self.cleaned_data.get("hf_archive")
        if archive and not archive.name.lower().endswith((".zip", ".tar.gz", ".tgz")):
            raise forms.ValidationError(f"{archive.name} is not a .zip or .tar.gz archive.")
        return archive

    def clean_hf_upload(self, data: dict) -> None:
        """Exactly one of the folder and the archive (called from the form's clean when the upload is wanted)."""
        folder, archive = data.get("hf_folder"), data.get("hf_archive")
        if folder and archive:
            self.add_error("hf_archive", "Give the folder or an archive of it, not both.")
        elif not folder and not archive and "hf_archive" not in self.errors:
            self.add_error("hf_folder", "Choose the model's folder, or give a .zip or .tar.gz of it.")

    def hugging_face_upload(self) -> dict:
        """model_register's keyword arguments for the upload."""
        data = self.cleaned_data
        archive = data.get("hf_archive")
        return {"files": [archive] if archive else data.get("hf_folder") or [],
                "relative_paths": [] if archive else data.get("relative_paths") or [],
                "model_config": {"hugging_face": {"class_map": data.get("class_map") or {},
                                                  "ignore_class_names": bool(data.get("ignore_class_names"))}}}


def integration_field(label: str = "Integration", required: bool = False) -> forms.ModelChoiceField:
    return forms.ModelChoiceField(label=label, queryset=Integration.objects.none(), required=required,
                                  empty_label="—")


class SourceForm(forms.Form):
    """A form whose fields depend on the chosen source; fields of other sources are removed."""

    source_fields: dict[str, tuple[str, ...]] = {}
    integration_types: dict[str, tuple[str, ...]] = {}

    def __init__(self, *args, source: str, workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.source = source
        for names in self.source_fields.values():
            for name in names:
                if name not in self.source_fields.get(source, ()) and name in self.fields:
                    del self.fields[name]
        if "integration" in self.fields:
            types = self.integration_types.get(source, ())
            self.fields["integration"].queryset = workspace.integrations.filter(integration_type__in=types)


LIST_PARAMS = ("class_names", "categorical_features", "protected_features", "features_not_in_model", "text_features")


class DataParamsMixin(forms.Form):
    label_col = forms.CharField(label="Label column", max_length=200, required=False)
    timestamp_col = forms.CharField(label="Timestamp column", max_length=200, required=False)
    pred_col = forms.CharField(label="Prediction column", max_length=200, required=False,
                               help_text="Only if predictions are stored in the dataset itself.")
    class_names = forms.CharField(label="Class names", required=False, help_text="Comma-separated, in index order.")
    categorical_features = forms.CharField(label="Categorical features", required=False,
                                           help_text="Comma-separated column names.")
    protected_features = forms.CharField(label="Protected features", required=False,
                                         help_text="Comma-separated; the Bias and Fairness scope.")
    features_not_in_model = forms.CharField(label="Features not in model", required=False,
                                            help_text="Comma-separated; present in the data, not sent to the model.")
    text_features = forms.CharField(label="Text features", required=False, help_text="Comma-separated.")
    nrows = forms.IntegerField(label="Rows to load (nrows)", required=False, min_value=1)
    sample = forms.BooleanField(label="Sample rows (when above the row limit)", required=False, initial=True)
    loading_kwargs = forms.JSONField(label="Loading options (loading_kwargs)", required=False,
                                     widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false"}),
                                     help_text='JSON for pandas, e.g. {"sep": ";"}.')

    def data_params(self) -> dict:
        data = self.cleaned_data
        params = {name: data.get(name) for name in ("label_col", "timestamp_col", "pred_col", "nrows")}
        params.update({name: split_names(data.get(name)) for name in LIST_PARAMS})
        params["sample"] = bool(data.get("sample"))
        params["loading_kwargs"] = data.get("loading_kwargs") or None
        return params


class DatasetRegisterForm(SourceForm, DataParamsMixin):
    name = forms.CharField(max_length=200)
    file = forms.FileField(label="Data file", required=True,
                           help_text="CSV, Parquet, JSON or JSON Lines, optionally gzip-compressed.")
    path = forms.CharField(label="File path or URI", max_length=1000,
                           help_text="s3://bucket/key (with an S3 integration) or a file in an allow-listed folder.")
    table_name = forms.CharField(label="Table", max_length=200, help_text="table or schema.table")
    integration = integration_field()

    field_order = ["name", "file", "path", "integration", "table_name"]
    source_fields = {DatasetSource.UPLOAD: ("file",), DatasetSource.PATH: ("path", "integration"),
                     DatasetSource.TABLE: ("integration", "table_name")}
    integration_types = {DatasetSource.PATH: (IntegrationType.S3,), DatasetSource.TABLE: (IntegrationType.SQL,)}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.source == DatasetSource.TABLE:
            self.fields["integration"].required = True
            self.fields["integration"].label = "Database integration"


class PredictionsRegisterForm(SourceForm):
    model = forms.ModelChoiceField(queryset=None, empty_label=None)
    dataset = forms.ModelChoiceField(queryset=None, empty_label=None)
    file = forms.FileField(label="Predictions file", required=True)
    path = forms.CharField(label="File path or URI", max_length=1000)
    integration = integration_field()
    table_name = forms.CharField(label="Table", max_length=200)
    pred_col = forms.CharField(label="Prediction column", max_length=200, required=False,
                               help_text="Empty when the file has a single column.")
    timestamp_col = forms.CharField(label="Timestamp column", max_length=200, required=False)

    source_fields = DatasetRegisterForm.source_fields
    integration_types = DatasetRegisterForm.integration_types

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, workspace=project.workspace, **kwargs)
        self.fields["model"].queryset = project.models.all()
        self.fields["dataset"].queryset = project.datasets.all()
        if self.source == DatasetSource.TABLE:
            self.fields["integration"].required = True

    def pred_params(self) -> dict:
        return {"pred_col": self.cleaned_data.get("pred_col"), "timestamp_col": self.cleaned_data.get("timestamp_col")}


MODEL_SOURCE_REGISTRY = "registry"  # a path source whose integration is a model registry
MODEL_SOURCE_HF_UPLOAD = "hugging_face_upload"  # an uploaded save_pretrained folder (stored as an upload)
MODEL_FORM_SOURCES = {
    ModelSource.UPLOAD: "Upload", ModelSource.PATH: "Path or URI", MODEL_SOURCE_REGISTRY: "Model registry",
    MODEL_SOURCE_HF_UPLOAD: "Hugging Face folder", ModelSource.HUGGING_FACE: "Hugging Face URI",
    ModelSource.NONE: "No model (predictions only)",
}
HF_MODEL_URI_HELP = ("An s3:// folder (with an S3 integration), a server folder in an allow-listed path, or a hub "
                     "id such as distilbert-base-uncased.")


class ModelRegisterForm(SourceForm, HuggingFaceUploadFields):
    name = forms.CharField(max_length=200)
    tags = forms.CharField(max_length=500, required=False, help_text="Comma-separated.")
    files = MultipleFileField(label="Model files", required=True,
                              help_text="model.py with its artifacts, a .zip of the model folder, a .pkl/.joblib "
                                        "file or a native model file (.cbm, .json, .txt, .skops, .onnx).")
    path = forms.CharField(label="Model path", max_length=1000,
                           help_text="s3://bucket/models/fraud/model.py (the files beside it come along) or a "
                                     "server path in an allow-listed folder.")
    model_uri = forms.CharField(label="Model URI", max_length=1000,
                                help_text="models:/NAME/VERSION, or a path under the registry's artifact root.")
    integration = integration_field()
    hf_model_uri = forms.CharField(label="Model URI", max_length=1000, help_text=HF_MODEL_URI_HELP)
    tokenizer_uri = forms.CharField(label="Tokenizer URI", max_length=1000, required=False,
                                    help_text="Empty when the tokenizer is saved with the model.")

    source_fields = {
        ModelSource.UPLOAD: ("files",), ModelSource.PATH: ("path", "integration"),
        MODEL_SOURCE_REGISTRY: ("integration", "model_uri"),
        MODEL_SOURCE_HF_UPLOAD: HuggingFaceUploadFields.upload_fields,
        ModelSource.HUGGING_FACE: ("hf_model_uri", "tokenizer_uri", "class_map", "ignore_class_names", "integration"),
        ModelSource.NONE: (),
    }
    integration_types = {ModelSource.PATH: (IntegrationType.S3,), MODEL_SOURCE_REGISTRY: (IntegrationType.MLFLOW,),
                         ModelSource.HUGGING_FACE: (IntegrationType.HUGGINGFACE, IntegrationType.S3)}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.source == MODEL_SOURCE_REGISTRY:
            self.fields["integration"].required = True
            self.fields["integration"].label = "Registry"

    def clean(self):
        data = super().clean()
        if self.source == MODEL_SOURCE_HF_UPLOAD:
            self.clean_hf_upload(data)
        return data

    def register_kwargs(self) -> dict:
        """Keyword arguments for registry.model_register from this source's fields."""
        data = self.cleaned_data
        source = {MODEL_SOURCE_REGISTRY: ModelSource.PATH, MODEL_SOURCE_HF_UPLOAD: ModelSource.UPLOAD}
        kwargs = {"name": data["name"], "tags": split_names(data.get("tags")), "integration": data.get("integration"),
                  "source": source.get(self.source, self.source)}
        if self.source == MODEL_SOURCE_HF_UPLOAD:
            kwargs.update(self.hugging_face_upload())
        elif self.source == ModelSource.UPLOAD:
            kwargs["files"] = data["files"]
        elif self.source == ModelSource.PATH:
            kwargs["path"] = data["path"]
        elif self.source == MODEL_SOURCE_REGISTRY:
            kwargs["path"] = data["model_uri"]
        elif self.source == ModelSource.HUGGING_FACE:
            kwargs["model_config"] = {"model_uri": data["hf_model_uri"], "tokenizer_uri": data.get("tokenizer_uri"),
                                      "class_map": data.get("class_map") or {},
                                      "ignore_class_names": data.get("ignore_class_names")}
        return kwargs


def pretty_json(value) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)
