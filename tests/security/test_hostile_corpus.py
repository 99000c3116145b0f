"""A corpus of hostile input through the wizard, the API and the CLI.

Every case gets a clear message a user sees (asserted on its text), never a 500, and leaves no half-written rows:
a refusal changes no row count and no file in storage. Registration that is refused only when validated (the API
registers first and validates on a worker, as RIME does) leaves one row, marked INVALID with the message, and the
validation is run here exactly as the Celery task runs it. Model behaviour (sleeping, allocating, wrong output) is
caught by the sandbox, through registration validation and through a stress-test run (`run_execute`, the task's
body) with short sandbox limits. Fixture files are generated here; nothing large is committed.
"""
from __future__ import annotations

import gzip
import html
import io
import json
import os
import pickle
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from projects.registries import services as registry, validation
from projects.registries import tasks as registry_tasks
from projects.models import Dataset, Predictions, RegisteredModel, ValidityStatus
from stresstests import services
from stresstests.execution import run_execute
from stresstests.engine import data as engine_data
from stresstests.engine import sandbox as engine_sandbox
from stresstests.models import RunStatus, StressTestReport, StressTestRun
from tests.conftest import require
from tests.stresstests import data as wizard_data

from .conftest import stored_files

pytestmark = pytest.mark.django_db
LABEL = "label"
SMALL_DECOMPRESSION_CAP = 32 * 1024**2


# ---- generated files ---------------------------------------------------------------------------------------------
def gzip_bomb() -> bytes:
    """About 1 MB that expands to 1 GB of CSV rows: concatenated gzip members, each 16 MB of '1,0' lines."""
    rows = gzip.compress(b"1,0\n" * (4 * 1024**2), compresslevel=9)
    return gzip.compress(b"amount,label\n") + rows * 64


def wide_csv(columns: int = 5000) -> bytes:
    names = [f"c{i}" for i in range(columns)]
    return (",".join(names + [LABEL]) + "\n" + ",".join(["1"] * columns + ["0"]) + "\n").encode()


def csv_of(frame) -> bytes:
    return frame.to_csv(index=False).encode()


@dataclass(frozen=True)
class DataCase:
    """A dataset file and the message each channel shows (a regex). A channel set to None is not applicable."""

    name: str
    file_name: str
    content: object  # bytes, or a function making them
    message: str
    wizard: str | None = ""
    api: str | None = ""
    cli: str | None = ""

    def bytes(self) -> bytes:
        return self.content() if callable(self.content) else self.content

    def expected(self, channel: str) -> str | None:
        specific = getattr(self, channel)
        return self.message if specific == "" else specific


DATA_CASES = [
    DataCase("empty file", "empty.csv", b"", "empty", wizard="The submitted file is empty",
             api="The submitted file is empty"),
    DataCase("binary data named .csv", "data.csv", bytes(range(256)) * 64, "is a binary file, not CSV"),
    DataCase("non-UTF-8 text", "latin1.csv", "city,label\nSão Paulo,1\nZürich,0\n".encode("latin-1"),
             "is not UTF-8 text; save it with UTF-8 encoding"),
    DataCase("gzip bomb", "bomb.csv.gz", gzip_bomb, r"expands to more than 32(\.0)? MB once decompressed"),
    DataCase("header-only CSV", "header.csv", b"amount,city,label\n", r"has a header \(amount, city, label...\) but no rows"),
    DataCase("duplicate column names", "dup.csv", b"amount,amount,label\n1,2,0\n3,4,1\n",
             "has duplicate column names: amount"),
    DataCase("no label column", "nolabel.csv", b"amount,city\n1,Rome\n2,Oslo\n", "no label column",
             wizard="Label column “label” is not in nolabel.csv; its columns are amount, city",
             api="label_col “label” is not a column", cli="Label column 'label' is not in the reference dataset"),
    DataCase("labels with NaN", "nan.csv", b"amount,label\n1,0\n2,\n3,1\n4,\n",
             "Label column “label” has 2 empty values", cli=None),
    DataCase("5,000 columns", "wide.csv", wide_csv, "has 5,001 columns; a stress test handles at most 1,000"),
    DataCase("an unterminated quote", "quote.csv", b'amount,label\n"12,0\n', "could not be read as CSV"),
    DataCase("a damaged gzip file", "broken.csv.gz", b"\x1f\x8b\x08\x00" + b"garbage" * 20,
             "looks gzip-compressed but cannot be decompressed"),
    DataCase("a damaged Parquet file", "broken.parquet", b"PAR1" + b"\x00\x01garbage" * 20,
             "could not be read as PARQUET"),
    DataCase("an executable named .exe", "tool.exe", b"MZ\x90\x00", "not supported",
             wizard="tool.exe is not a supported dataset file", api="Upload CSV, Parquet, JSON or JSON Lines", cli=None),
]


def cases_for(channel: str):
    return [pytest.param(case, id=case.name) for case in DATA_CASES if case.expected(channel) is not None]


# ---- shared state ------------------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def small_decompression_cap(monkeypatch, settings):
    """The server caps decompressed data at MAX_UPLOAD_BYTES, the CLI at the engine's own limit: both lowered."""
    settings.MAX_UPLOAD_BYTES = SMALL_DECOMPRESSION_CAP
    monkeypatch.setattr(engine_data, "MAX_DECOMPRESSED_BYTES", SMALL_DECOMPRESSION_CAP)


class QuickSandbox(engine_sandbox.SandboxedModel):
    """The real sandbox (default memory limit) with time limits short enough for a test: 3 s per call, 30 s to load."""

    def __init__(self, path, **kwargs):
        kwargs.update(wall_timeout_s=3.0, load_timeout_s=30.0)
        super().__init__(path, **kwargs)


@pytest.fixture(autouse=True)
def quick_sandbox(monkeypatch):
    # validation.model_validate and run_execute import SandboxedModel from its module when they run.
    monkeypatch.setattr(engine_sandbox, "SandboxedModel", QuickSandbox)


def snapshot(settings) -> dict:
    return {"datasets": Dataset.objects.count(), "models": RegisteredModel.objects.count(),
            "predictions": Predictions.objects.count(), "runs": StressTestRun.objects.count(),
            "reports": StressTestReport.objects.count(), "files": stored_files(settings)}


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content)


def step_url(run, step: str) -> str:
    return f"/stress-tests/{run.id}/wizard/{step}/"


@pytest.fixture
def configured_draft(owner, project):
    run = services.run_create_draft(user=owner, project=project)
    services.run_save_configuration(user=owner, run=run, config_mode="custom", categories=["TEST_CATEGORY_TYPE_DRIFT"],
                                    name="Hostile", random_seed=1)
    return run


@pytest.fixture
def good_model(owner, project):
    return registry.model_register(user=owner, project=project, name="good", tags=[], source="upload",
                                   files=[upload("model.py", wizard_data.MODEL_PY.encode()),
                                          upload("weights.json", wizard_data.weights_json())], validate=False)


@pytest.fixture
def draft_at_reference(owner, configured_draft, good_model):
    services.run_set_model(user=owner, run=configured_draft, model=good_model)
    return configured_draft


@pytest.fixture
def valid_datasets(owner, project):
    """Reference and evaluation datasets of the project, validated (model validation predicts on the first)."""
    def register(name, frame):
        dataset = registry.dataset_register(user=owner, project=project, name=name, source="upload",
                                            data_params={"label_col": LABEL}, file=upload(f"{name}.csv", csv_of(frame)),
                                            validate=False)
        return validation.dataset_validate(dataset)

    return register("ref", wizard_data.frame(seed=1)), register("eval", wizard_data.frame(seed=2, shift=10))


@pytest.fixture
def api_key(owner, workspace):
    from projects import services as project_services

    return project_services.api_key_create(user=owner, workspace=workspace, name="corpus")[1]


# ---- datasets through the wizard -----------------------------------------------------------------------------------
@pytest.mark.parametrize("case", cases_for("wizard"))
def test_wizard_refuses_a_hostile_dataset_at_once(client_for, owner, draft_at_reference, settings, case: DataCase):
    before = snapshot(settings)
    response = client_for(owner).post(step_url(draft_at_reference, "reference"), {
        "source": "upload", "reference-name": "hostile", "reference-label_col": LABEL,
        "reference-file": upload(case.file_name, case.bytes())})
    assert response.status_code == 200
    assert re.search(case.expected("wizard"), page_text(response))
    assert snapshot(settings) == before
    draft_at_reference.refresh_from_db()
    assert draft_at_reference.reference_dataset is None


# ---- datasets through the API: refused at once, or registered and marked invalid by validation ---------------------
@pytest.mark.parametrize("case", cases_for("api"))
def test_api_refuses_a_hostile_dataset_with_a_message(client, api_key, project, settings, case: DataCase):
    before = snapshot(settings)
    response = client.post(f"/api/v1/projects/{project.id}/datasets", {
        "name": "hostile", "file": upload(case.file_name, case.bytes()), "data_params": json.dumps({"label_col": LABEL})},
        HTTP_RIME_API_KEY=api_key)
    if response.status_code == 400:
        assert re.search(case.expected("api"), response.json()["message"])
        assert snapshot(settings) == before
        return
    assert response.status_code == 201
    dataset_id = response.json()["datasetId"]
    assert registry_tasks.validate_dataset(dataset_id) == ValidityStatus.INVALID  # the Celery task's body
    shown = client.get(f"/v1/registry/dataset?datasetId={dataset_id}", HTTP_RIME_API_KEY=api_key).json()["dataset"]
    assert shown["validityStatus"] == ValidityStatus.INVALID
    assert re.search(case.expected("api"), shown["validityStatusMessage"])
    assert Dataset.objects.count() == before["datasets"] + 1  # one complete row, invalid, with its file


# ---- datasets through the CLI ----------------------------------------------------------------------------------------
def run_cli(*arguments: str) -> tuple[int, str]:
    stderr = io.StringIO()
    try:
        call_command("stresstest", *arguments, "--quiet", stdout=io.StringIO(), stderr=stderr)
    except SystemExit as exit_status:
        return int(exit_status.code), stderr.getvalue()
    return 0, stderr.getvalue()


@pytest.mark.parametrize("case", cases_for("cli"))
def test_cli_refuses_a_hostile_dataset_with_exit_status_2(tmp_path, case: DataCase):
    path = tmp_path / case.file_name
    path.write_bytes(case.bytes())
    report = tmp_path / "report.json"
    status, stderr = run_cli("--reference", str(path), "--evaluation", str(path), "--label-col", LABEL,
                             "--output", str(report))
    assert status == 2
    assert stderr.startswith("\nstresstest: error: ") and re.search(case.expected("cli"), stderr)
    assert not report.exists()


# ---- models: registration validation and a real run -------------------------------------------------------------
ESCAPE_TARGET = Path(__file__).resolve().parents[2] / "var"


@dataclass(frozen=True)
class ModelCase:
    name: str
    source: str
    message: str
    needs_bubblewrap: bool = False


def _model(body: str) -> str:
    return "import numpy as np\n\n\ndef predict_df(df):\n" + body


MODEL_CASES = [
    ModelCase("syntax error", "def predict_df(df)\n    return df\n",
              r"Importing model.py failed: SyntaxError: .*line 1"),
    ModelCase("no predict function", "def score(df):\n    return df\n",
              r"model.py must define predict_df\(df\) or predict_dict\(row\); it defines neither"),
    ModelCase("wrong shape", _model("    return np.full(len(df) + 3, 0.5)\n"),
              r"The model returned \d+ predictions for \d+ rows; return exactly one prediction per input row"),
    ModelCase("NaN predictions", _model("    return np.full(len(df), np.nan)\n"),
              r"NaN or infinite predictions; every row needs a finite prediction"),
    ModelCase("strings", _model("    return np.array(['fraud'] * len(df))\n"),
              "The model returned strings; return numbers"),
    ModelCase("probabilities above 1", _model("    return np.full(len(df), 7.5)\n"),
              r"predictions lie outside \[0, 1\]; a classifier must return probabilities"),
    ModelCase("sleeping forever", _model("    import time\n    time.sleep(10**6)\n"),
              "The model did not answer within 3 s, so it was stopped"),
    ModelCase("allocating 50 GB", _model("    block = np.ones(50 * 1024**3 // 8)\n    return block[:len(df)]\n"),
              "The model used more than 4096 MB of memory"),
    ModelCase("raising an error", _model("    raise KeyError('amount')\n"),
              r"The model raised an error while predicting: KeyError: 'amount' \(in model.py, line 5, in predict_df\)"),
    ModelCase("exiting at import", "import sys\nsys.exit(3)\n", "Loading the model failed: SystemExit: 3"),
    ModelCase("writing outside its folder",
              f"open({str(ESCAPE_TARGET / 'escaped-by-model.txt')!r}, 'w').write('x')\n"
              "def predict_df(df):\n    return df.iloc[:, 0] * 0\n",
              r"Importing model.py failed: (OSError|FileNotFoundError|PermissionError)", needs_bubblewrap=True),
]


def _model_case_setup(case: ModelCase) -> None:
    if case.needs_bubblewrap:
        require(engine_sandbox.bubblewrap_available(), "bubblewrap (bwrap) is needed to keep writes inside the sandbox")
    (ESCAPE_TARGET / "escaped-by-model.txt").unlink(missing_ok=True)


def _escaped() -> bool:
    return (ESCAPE_TARGET / "escaped-by-model.txt").exists()


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in MODEL_CASES])
def test_wizard_model_upload_is_validated_with_a_clear_message(client_for, owner, configured_draft, valid_datasets,
                                                               client, api_key, case: ModelCase):
    _model_case_setup(case)
    response = client_for(owner).post(step_url(configured_draft, "model"), {
        "source": "upload", "name": "hostile", "tags": "", "files": [upload("model.py", case.source.encode())]})
    assert response.status_code == 302  # registered; the worker validates it
    model = RegisteredModel.objects.get(name="hostile")
    assert registry_tasks.validate_model(str(model.id)) == ValidityStatus.INVALID  # the Celery task's body
    model.refresh_from_db()
    assert re.search(case.message, model.validity_message), model.validity_message
    client.logout()
    shown = client.get(f"/v1/registry/model?modelId.uuid={model.id}", HTTP_RIME_API_KEY=api_key).json()
    assert shown["model"]["model"]["validityStatusMessage"] == model.validity_message
    assert not _escaped()


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in MODEL_CASES])
def test_a_stress_test_of_a_hostile_model_fails_with_a_clear_message(owner, project, configured_draft, valid_datasets,
                                                                    django_capture_on_commit_callbacks, settings,
                                                                    case: ModelCase):
    _model_case_setup(case)
    model = registry.model_register(user=owner, project=project, name="hostile", tags=[], source="upload",
                                    files=[upload("model.py", case.source.encode())], validate=False)
    run = _submitted(owner, configured_draft, model, valid_datasets, django_capture_on_commit_callbacks)
    before = snapshot(settings)
    run_execute(run.id)  # what the Celery task runs
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert re.search(case.message, run.error), run.error
    assert snapshot(settings) == before  # no report row, no stored file
    assert not _escaped()


def _submitted(owner, draft, model, datasets, capture):
    services.run_set_model(user=owner, run=draft, model=model)
    services.run_set_dataset(user=owner, run=draft, role="reference", dataset=datasets[0])
    services.run_set_dataset(user=owner, run=draft, role="evaluation", dataset=datasets[1])
    with capture(execute=False):
        return services.run_submit(user=owner, run=draft)


ENV_MODEL = _model("    import os\n    for name, value in sorted(os.environ.items()):\n"
                   "        print(f'env {name}={value}')\n    return np.full(len(df), 0.5)\n")


def test_a_model_reading_os_environ_finds_none_of_the_servers_secrets(owner, project, configured_draft, valid_datasets,
                                                                      django_capture_on_commit_callbacks, settings,
                                                                      monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret-for-the-test")
    monkeypatch.setenv("DATABASE_URL", "postgres://rime:db-password-for-the-test@db/rime")
    model = registry.model_register(user=owner, project=project, name="nosy", tags=[], source="upload",
                                    files=[upload("model.py", ENV_MODEL.encode())], validate=False)
    run = _submitted(owner, configured_draft, model, valid_datasets, django_capture_on_commit_callbacks)
    run_execute(run.id)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert "[model stdout] env PATH=" in run.log  # the model did read and print its environment
    printed = "\n".join(line for line in run.log.splitlines() if line.startswith("[model stdout] env "))
    for secret in [settings.SECRET_KEY, *settings.FIELD_ENCRYPTION_KEYS, "aws-secret-for-the-test",
                   "db-password-for-the-test", "DJANGO_", "CELERY_", "DATABASE_URL", "AWS_"]:
        assert secret not in printed


@pytest.mark.parametrize(("shape", "frame"), [
    ("one row", wizard_data.frame(n_rows=1, seed=3)),
    ("one class only", wizard_data.frame(seed=4).assign(label=0)),
])
def test_one_row_or_one_label_class_runs_and_says_which_tests_could_not_be_scored(
        owner, project, configured_draft, good_model, django_capture_on_commit_callbacks, shape, frame):
    datasets = [registry.dataset_register(user=owner, project=project, name=f"{shape} {role}", source="upload",
                                          data_params={"label_col": LABEL}, file=upload(f"{role}.csv", csv_of(frame)),
                                          validate=False) for role in ("ref", "eval")]
    services.run_save_configuration(user=owner, run=configured_draft, config_mode="custom",
                                    categories=["TEST_CATEGORY_TYPE_MODEL_PERFORMANCE"], name=shape, random_seed=1)
    run = _submitted(owner, configured_draft, good_model, datasets, django_capture_on_commit_callbacks)
    run_execute(run.id)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    tests = [t for c in StressTestReport.objects.get(run=run).data["categories"] for t in c["tests"]]
    reasons = {t.get("skip_reason") for t in tests if t["status"] == "skipped"}
    assert "AUC is undefined on the reference set: only one class is present in the labels." in reasons


# ---- pickles -----------------------------------------------------------------------------------------------------
class _ShellCommand:
    def __init__(self, command: str, runner=os.system):
        self.command, self.runner = command, runner

    def __reduce__(self):
        return self.runner, (self.command,)


def evil_pickle(marker: Path) -> bytes:
    return pickle.dumps(_ShellCommand(f"touch {marker}"))


def evil_eval_pickle(marker: Path) -> bytes:
    return pickle.dumps(_ShellCommand(f"open({str(marker)!r}, 'w')", runner=eval))


def evil_compressed_joblib(marker: Path) -> bytes:
    import joblib

    buffer = io.BytesIO()
    joblib.dump(_ShellCommand(f"touch {marker}"), buffer, compress=3)
    return buffer.getvalue()


PICKLES = [
    ("os.system pickle", "evil.pkl", evil_pickle, "it asks to import posix.system"),
    ("builtins.eval pickle", "evil.pkl", evil_eval_pickle, "it asks to import builtins.eval"),
    ("compressed joblib file", "evil.joblib", evil_compressed_joblib, "it asks to import posix.system"),
]


@pytest.mark.parametrize(("file_name", "make", "message"), [pytest.param(*p[1:], id=p[0]) for p in PICKLES])
def test_a_malicious_pickle_is_refused_naming_the_global(client_for, owner, configured_draft, valid_datasets,
                                                         tmp_path, file_name, make, message):
    marker = tmp_path / "pwned"
    client_for(owner).post(step_url(configured_draft, "model"), {
        "source": "upload", "name": "evil", "tags": "", "files": [upload(file_name, make(marker))]})
    model = RegisteredModel.objects.get(name="evil")
    assert registry_tasks.validate_model(str(model.id)) == ValidityStatus.INVALID
    model.refresh_from_db()
    assert message in model.validity_message and "Save the model in a format that cannot run code" in \
        model.validity_message
    assert not marker.exists()


@pytest.mark.parametrize(("file_name", "make", "message"), [pytest.param(*p[1:], id=p[0]) for p in PICKLES])
def test_the_cli_refuses_a_malicious_pickle(tmp_path, file_name, make, message):
    marker = tmp_path / "pwned"
    model = tmp_path / file_name
    model.write_bytes(make(marker))
    data_file = tmp_path / "data.csv"
    data_file.write_bytes(csv_of(wizard_data.frame(n_rows=40)))
    status, stderr = run_cli("--model", str(model), "--reference", str(data_file), "--evaluation", str(data_file),
                             "--label-col", LABEL, "--output", str(tmp_path / "r.json"))
    assert status == 2 and message in stderr
    assert not marker.exists()


# ---- archives and sizes, through the wizard and the API --------------------------------------------------------------
def zip_of(members: dict[str, bytes], *, compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


MODEL_PY = wizard_data.MODEL_PY.encode()
ARCHIVES = [
    ("zip with ../ paths", {"model.py": MODEL_PY, "../../evil.py": b"x"}, "leaves its folder"),
    ("zip with an absolute path", {"model.py": MODEL_PY, "/etc/cron.d/evil": b"x"}, "is an absolute path"),
    ("zip bomb", {"model.py": MODEL_PY, "weights.bin": b"\0" * (20 * 1024**2)}, "compressed suspiciously well"),
    ("not a zip", None, "is not a valid zip file"),
]


def _archive(members) -> bytes:
    return zip_of(members) if members is not None else b"PK\x03\x04 this is not really a zip"


@pytest.mark.parametrize(("members", "message"), [pytest.param(*a[1:], id=a[0]) for a in ARCHIVES])
def test_wizard_refuses_a_hostile_zip(client_for, owner, configured_draft, settings, members, message):
    before = snapshot(settings)
    response = client_for(owner).post(step_url(configured_draft, "model"), {
        "source": "upload", "name": "zipped", "tags": "", "files": [upload("model.zip", _archive(members))]})
    assert response.status_code == 200 and message in page_text(response)
    assert snapshot(settings) == before


@pytest.mark.parametrize(("members", "message"), [pytest.param(*a[1:], id=a[0]) for a in ARCHIVES])
def test_api_refuses_a_hostile_zip(client, api_key, project, settings, members, message):
    before = snapshot(settings)
    response = client.post(f"/api/v1/projects/{project.id}/models", {
        "name": "zipped", "files": [upload("model.zip", _archive(members))]}, HTTP_RIME_API_KEY=api_key)
    assert response.status_code == 400 and message in response.json()["message"]
    assert snapshot(settings) == before


OVERSIZED = b"amount,label\n" + b"1,0\n" * 600  # 2.4 KB against a 1 KB limit


@pytest.fixture
def small_upload_limit(settings):
    settings.MAX_UPLOAD_BYTES = 1024


def test_wizard_refuses_an_oversized_dataset(client_for, owner, draft_at_reference, settings, small_upload_limit):
    before = snapshot(settings)
    response = client_for(owner).post(step_url(draft_at_reference, "reference"), {
        "source": "upload", "reference-name": "big", "reference-label_col": LABEL,
        "reference-file": upload("big.csv", OVERSIZED)})
    assert response.status_code == 200 and "The upload is 2.4 KB; the limit is 1.0 KB." in page_text(response)
    assert snapshot(settings) == before


def test_wizard_refuses_an_oversized_model(client_for, owner, configured_draft, settings, small_upload_limit):
    before = snapshot(settings)
    response = client_for(owner).post(step_url(configured_draft, "model"), {
        "source": "upload", "name": "big", "tags": "", "files": [upload("model.py", MODEL_PY * 3)]})
    assert response.status_code == 200 and "the limit is 1.0 KB" in page_text(response)
    assert snapshot(settings) == before


@pytest.mark.parametrize("endpoint", ["datasets", "uploads"])
def test_api_refuses_an_oversized_upload(client, api_key, project, settings, small_upload_limit, endpoint):
    before = snapshot(settings)
    path = f"/api/v1/projects/{project.id}/datasets" if endpoint == "datasets" else "/api/v1/uploads"
    response = client.post(path, {"name": "big", "file": upload("big.csv", OVERSIZED)}, HTTP_RIME_API_KEY=api_key)
    assert response.status_code == 400
    assert "The upload is 2.4 KB; the limit is 1.0 KB." in response.json()["message"]
    assert snapshot(settings) == before


# ---- other workspaces' ids inside an otherwise valid API call ------------------------------------------------------
@pytest.fixture
def theirs(outsider, server_data):
    """The outsider's workspace: a dataset, a model, an integration and an uploaded file, plus its key."""
    from projects import services as project_services
    from projects.models import Integration

    workspace = outsider.workspaces.get()
    project = project_services.project_create(user=outsider, workspace=workspace, name="Theirs",
                                              model_task="MODEL_TASK_BINARY_CLASSIFICATION")
    dataset = Dataset.objects.create(project=project, name="their data", source="path", path="/x.csv")
    model = RegisteredModel.objects.create(project=project, name="their model", source="path", path="/m.py")
    integration = Integration.objects.create(workspace=workspace, name="their s3",
                                             integration_type="INTEGRATION_TYPE_AWS_ACCESS_KEY")
    key = project_services.api_key_create(user=outsider, workspace=workspace, name="theirs")[1]
    return {"dataset": dataset, "model": model, "integration": integration, "key": key}


def _post_json(client, path: str, body: dict, key: str):
    return client.post(path, json.dumps(body), content_type="application/json", HTTP_RIME_API_KEY=key)


def test_start_stress_test_refuses_another_workspaces_dataset(client, api_key, project, theirs, valid_datasets,
                                                              good_model, settings):
    before = snapshot(settings)
    response = _post_json(client, f"/v1/stress-tests/{project.id}", {"testRunConfig": {
        "runName": "mixed", "modelId": {"uuid": str(good_model.id)},
        "dataInfo": {"refDatasetId": str(valid_datasets[0].id), "evalDatasetId": str(theirs["dataset"].id)}}},
        api_key)
    assert response.status_code == 404
    assert response.json()["message"] == f"Dataset {theirs['dataset'].id} does not exist."
    assert snapshot(settings) == before


def test_start_stress_test_refuses_another_workspaces_model(client, api_key, project, theirs, valid_datasets, settings):
    before = snapshot(settings)
    dataset_id = str(valid_datasets[0].id)
    response = _post_json(client, f"/v1/stress-tests/{project.id}", {"testRunConfig": {
        "runName": "mixed", "modelId": {"uuid": str(theirs["model"].id)},
        "dataInfo": {"refDatasetId": dataset_id, "evalDatasetId": dataset_id}}}, api_key)
    assert response.status_code == 404
    assert response.json()["message"] == f"Model {theirs['model'].id} does not exist."
    assert snapshot(settings) == before


def test_registering_with_another_workspaces_integration_is_refused(client, api_key, project, theirs, settings):
    before = snapshot(settings)
    response = _post_json(client, f"/v1/registry/{project.id}/dataset", {
        "name": "borrowed", "integrationId": {"uuid": str(theirs["integration"].id)},
        "dataInfo": {"connectionInfo": {"dataFile": {"path": "s3://their-bucket/data.csv"}}}}, api_key)
    assert response.status_code == 404
    assert response.json()["message"] == f"Integration {theirs['integration'].id} does not exist."
    assert snapshot(settings) == before


def test_another_workspaces_upload_cannot_be_registered(client, api_key, project, theirs, settings):
    uploaded = client.post("/api/v1/uploads", {"file": upload("theirs.csv", b"a,label\n1,0\n")},
                           HTTP_RIME_API_KEY=theirs["key"]).json()["path"]
    before = snapshot(settings)
    response = _post_json(client, f"/v1/registry/{project.id}/dataset", {
        "name": "stolen", "dataInfo": {"connectionInfo": {"dataFile": {"path": uploaded}}}}, api_key)
    assert response.status_code == 404 and response.json()["message"] == f"No uploaded file at {uploaded}."
    assert snapshot(settings) == before


def test_the_config_validator_refuses_another_workspaces_model(client, api_key, theirs, valid_datasets):
    config = {"run_name": "x", "model_id": {"uuid": str(theirs["model"].id)},
              "data_info": {"ref_dataset_id": str(valid_datasets[0].id), "eval_dataset_id": str(valid_datasets[0].id)}}
    response = _post_json(client, "/v1-beta/config-validator/CONFIG_TYPE_TEST_RUN",
                          {"configJson": json.dumps(config)}, api_key)
    assert response.status_code == 404 and response.json()["message"] == f"Model {theirs['model'].id} does not exist."


# ---- malformed API requests ----------------------------------------------------------------------------------------
def test_a_body_that_is_not_json_is_a_400_in_the_clients_shape(client, api_key, project, settings):
    before = snapshot(settings)
    response = client.post(f"/v1/stress-tests/{project.id}", "{not json", content_type="application/json",
                           HTTP_RIME_API_KEY=api_key)
    assert response.status_code == 400
    assert response.json()["code"] == 3 and "JSON parse error" in response.json()["message"]
    assert snapshot(settings) == before


def test_a_test_run_config_that_is_not_an_object_is_refused(client, api_key, project, settings):
    before = snapshot(settings)
    response = _post_json(client, f"/v1/stress-tests/{project.id}", {"testRunConfig": "run everything"}, api_key)
    assert response.status_code == 400 and response.json()["message"] == "testRunConfig is required."
    assert snapshot(settings) == before


@pytest.mark.parametrize(("path", "message"), [
    ("/etc/passwd", "is outside the folders this server may read from"),
    ("file:///etc/passwd", "Only s3:// URIs and server paths are supported."),
    ("{server_data}/../../etc/passwd", "is outside the folders this server may read from"),
])
def test_registering_a_server_path_outside_the_allow_list_is_refused(client, api_key, project, server_data, settings,
                                                                      path, message):
    before = snapshot(settings)
    response = _post_json(client, f"/v1/registry/{project.id}/dataset", {
        "name": "peek", "dataInfo": {"connectionInfo": {"dataFile": {"path": path.format(server_data=server_data)}}}},
        api_key)
    assert response.status_code == 400 and message in response.json()["message"]
    assert snapshot(settings) == before


def test_data_params_that_are_not_json_are_refused(client, api_key, project, settings):
    before = snapshot(settings)
    response = client.post(f"/api/v1/projects/{project.id}/datasets", {
        "name": "x", "file": upload("d.csv", b"a,label\n1,0\n"), "data_params": "{label_col: label"},
        HTTP_RIME_API_KEY=api_key)
    assert response.status_code == 400 and "data_params is not valid JSON" in response.json()["message"]
    assert snapshot(settings) == before


def test_a_name_of_ten_thousand_characters_is_refused(client, api_key, project, server_data, settings):
    before = snapshot(settings)
    response = _post_json(client, f"/v1/registry/{project.id}/dataset", {"name": "n" * 10_000, "dataInfo": {
        "connectionInfo": {"dataFile": {"path": str(server_data / "d.csv")}}}}, api_key)
    assert response.status_code == 400 and response.json()["message"] == "Names are at most 200 characters."
    assert snapshot(settings) == before


# ---- the CLI's own arguments ----------------------------------------------------------------------------------------
def test_the_cli_names_a_missing_data_file(tmp_path):
    status, stderr = run_cli("--reference", str(tmp_path / "nowhere.csv"), "--evaluation", str(tmp_path / "x.csv"),
                             "--output", str(tmp_path / "r.json"))
    assert status == 2 and "nowhere.csv does not exist" in stderr


def test_the_cli_refuses_a_config_file_that_is_not_json(tmp_path):
    config = tmp_path / "config.json"
    config.write_text("categories: [drift]")
    data_file = tmp_path / "d.csv"
    data_file.write_bytes(csv_of(wizard_data.frame(n_rows=20)))
    status, stderr = run_cli("--config", str(config), "--reference", str(data_file), "--evaluation", str(data_file),
                             "--output", str(tmp_path / "r.json"))
    assert status == 2 and f"Config file {config} is not valid JSON" in stderr


def test_the_cli_reports_a_model_with_a_syntax_error(tmp_path):
    (tmp_path / "model.py").write_text("def predict_df(df)\n    return df\n")
    data_file = tmp_path / "d.csv"
    data_file.write_bytes(csv_of(wizard_data.frame(n_rows=20)))
    status, stderr = run_cli("--model", str(tmp_path / "model.py"), "--reference", str(data_file), "--evaluation",
                             str(data_file), "--label-col", LABEL, "--output", str(tmp_path / "r.json"))
    assert status == 2 and re.search(r"Importing model.py failed: SyntaxError: .*line 1", stderr)


def test_a_predictions_file_the_registry_refuses_leaves_no_dataset_file_behind(client_for, owner, draft_at_reference,
                                                                               settings):
    before = snapshot(settings)
    frame = wizard_data.frame(n_rows=30)
    response = client_for(owner).post(step_url(draft_at_reference, "reference"), {
        "source": "upload", "reference-name": "with predictions", "reference-label_col": LABEL,
        "reference-file": upload("ref.csv", csv_of(frame)), "reference-with_predictions": "on",
        "reference-pred_file": upload("predictions.txt", wizard_data.predictions_csv(frame))})
    assert response.status_code == 200
    assert "Upload CSV, Parquet, JSON or JSON Lines (optionally .gz), not .txt." in page_text(response)
    assert snapshot(settings) == before


# Bodies of the right JSON type at the top but the wrong shape inside: each a 400 with a sentence, never a 500.
MALFORMED_BODIES = [
    ("a JSON array for a project", "/v1/projects", "[]", "The request body must be a JSON object."),
    ("null for a stress test", "/v1/stress-tests/{project}", "null", "The request body must be a JSON object."),
    ("a string for an integration", "/v1-beta/integrations", '"s3"', "The request body must be a JSON object."),
    ("integration variables that are numbers", "/v1-beta/integrations/{integration}", '{"variables": [1, 2]}',
     'variables must be a list of {"name": ..., "value": ...} objects.'),
    ("a model path that is a string", "/v1/registry/{project}/model",
     '{"name": "n", "modelInfo": {"modelPath": "/m.py"}}', "path is required."),
    ("model tags that are a string", "/v1/registry/{project}/model",
     '{"name": "n", "metadata": {"tags": "abc"}, "modelInfo": {"modelPath": {"path": "/m.py"}}}',
     "metadata.tags must be a list of strings."),
    ("a test suite config that is a string", "/v1/stress-tests/{project}",
     '{"testRunConfig": {"runName": "r", "dataInfo": {"evalDatasetId": "{dataset}"}, "testSuiteConfig": "x"}}',
     "testRunConfig.test_suite_config must be an object."),
    ("a profiling config that is a list", "/v1/stress-tests/{project}",
     '{"testRunConfig": {"runName": "r", "dataInfo": {"evalDatasetId": "{dataset}"}, "profilingConfig": [1]}}',
     "testRunConfig.profiling_config must be an object."),
    ("a validated config whose data_info is a number", "/v1-beta/config-validator/CONFIG_TYPE_TEST_RUN",
     '{"configJson": "{\\"run_name\\": \\"r\\", \\"data_info\\": 7}"}', "testRunConfig.data_info must be an object."),
]


@pytest.mark.parametrize(("path", "body", "message"), [pytest.param(*case[1:], id=case[0]) for case in MALFORMED_BODIES])
def test_a_malformed_api_body_is_a_400_with_a_message(client, api_key, project, valid_datasets, settings, path, body,
                                                      message):
    from projects.models import Integration

    integration = Integration.objects.create(workspace=project.workspace, name="s3",
                                             integration_type="INTEGRATION_TYPE_AWS_ACCESS_KEY")
    before = snapshot(settings)
    ids = {"project": project.id, "integration": integration.id, "dataset": valid_datasets[0].id}
    body = body.replace("{dataset}", str(ids["dataset"]))
    response = client.post(path.format(**ids), body, content_type="application/json", HTTP_RIME_API_KEY=api_key)
    assert response.status_code == 400
    assert response.json() == {"code": 3, "message": message, "details": []}
    assert snapshot(settings) == before


def test_the_cli_refuses_a_config_whose_sections_are_not_objects(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"test_suite_config": ["drift"]}))
    data_file = tmp_path / "d.csv"
    data_file.write_bytes(csv_of(wizard_data.frame(n_rows=20)))
    status, stderr = run_cli("--config", str(config), "--reference", str(data_file), "--evaluation", str(data_file),
                             "--output", str(tmp_path / "r.json"))
    assert status == 2 and "test_suite_config must be a JSON object, not list." in stderr


# ---- other workspaces' rows named in the wizard ---------------------------------------------------------------------
@pytest.mark.parametrize(("step", "values", "message"), [
    ("model", lambda t: {"source": "registered", "model": str(t["model"].id)},
     "Select a valid choice. That choice is not one of the available choices."),
    ("model", lambda t: {"source": "registry", "registry": "their s3", "uri": "models:/fraud/1", "name": "borrowed"},
     "No registry named “their s3” in this workspace"),
    ("reference", lambda t: {"source": "registered", "reference-dataset": "their data"},
     "No dataset named “their data” in this project."),
    ("reference", lambda t: {"source": "connection", "reference-connection": "their s3",
                             "reference-table_name": "loans", "reference-label_col": "label"},
     "No connection named “their s3” in this workspace"),
], ids=["their model id", "their registry", "their dataset", "their connection"])
def test_the_wizard_cannot_pick_another_workspaces_rows(client_for, owner, draft_at_reference, theirs, settings, step,
                                                       values, message):
    if step == "model":
        draft_at_reference.model = None
        draft_at_reference.save()
    before = snapshot(settings)
    response = client_for(owner).post(step_url(draft_at_reference, step), values(theirs))
    assert response.status_code == 200 and message in page_text(response)
    assert snapshot(settings) == before
