"""The sandbox as a user's hostile or broken model meets it: secrets, files, network, time, memory, bad output."""

from __future__ import annotations

import os
import pickle
import socket
import subprocess
import shutil
import sys
import tempfile
import textwrap
import threading
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from stresstests.engine.vocabulary import MODEL_TASK_BINARY_CLASSIFICATION, MODEL_TASK_REGRESSION
from stresstests.engine.errors import ModelLoadError, ModelOutputError
from stresstests.engine.sandbox import (
    CODE_ROOT,
    ISOLATION_BUBBLEWRAP,
    ISOLATION_PROCESS,
    SandboxedModel,
    bubblewrap_available,
)
from tests.conftest import require

BOTH_ISOLATIONS = [ISOLATION_BUBBLEWRAP, ISOLATION_PROCESS]
SERVER_SECRETS = {
    "SECRET_KEY": "django-insecure-server-secret",
    "DATABASE_URL": "postgres://rime:hunter2@db/rime",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-value",
    "CELERY_BROKER_URL": "redis://:broker-password@redis:6379/0",
}
ROWS = pd.DataFrame({"amount": [1.0, 2.0, 3.0], "city": ["Rome", "Oslo", "Rome"]})


class LogLines(list):
    def __call__(self, line: str) -> None:
        self.append(line)

    def text(self) -> str:
        return "\n".join(self)


def require_bubblewrap(isolation: str = ISOLATION_BUBBLEWRAP) -> None:
    """Skips locally without bubblewrap; CI installs it, so there the test fails instead."""
    if isolation == ISOLATION_BUBBLEWRAP:
        require(bubblewrap_available(), "bubblewrap does not work here (apt-get install bubblewrap)")


def write_model(folder: Path, source: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "model.py"
    script.write_text(textwrap.dedent(source))
    return script


def sandbox(path: Path, **options) -> SandboxedModel:
    options.setdefault("model_task", MODEL_TASK_BINARY_CLASSIFICATION)
    options.setdefault("wall_timeout_s", 30)
    return SandboxedModel(path, **options)


def environment_probe_model(folder: Path, *, scan_other_processes: bool) -> Path:
    """A model whose predictions are 1.0 when it can see any server secret, and which logs what it saw."""
    return write_model(folder, f"""
        import glob, os
        import numpy as np
        SECRETS = {sorted(SERVER_SECRETS.values())!r}
        def visible_environments():
            yield " ".join(os.environ.values())
            if {scan_other_processes!r}:
                for path in glob.glob("/proc/*/environ"):  # every process it can see, the server's included
                    try:
                        yield open(path, "rb").read().decode(errors="replace")
                    except OSError:
                        pass
        def predict_df(df):
            print("variables:", sorted(os.environ))
            leaked = any(secret in text for text in visible_environments() for secret in SECRETS)
            return np.full(len(df), 1.0 if leaked else 0.0)
    """)


@pytest.mark.parametrize("isolation", BOTH_ISOLATIONS)
def test_a_model_reading_os_environ_finds_none_of_the_server_secrets(tmp_path, monkeypatch, isolation):
    require_bubblewrap(isolation)
    for name, value in SERVER_SECRETS.items():
        monkeypatch.setenv(name, value)
    script = environment_probe_model(tmp_path / "model", scan_other_processes=False)
    log = LogLines()
    with sandbox(script, log=log, isolation=isolation) as model:
        predictions = model.predict(ROWS)

    assert predictions.tolist() == [0.0, 0.0, 0.0]
    assert "variables:" in log.text() and "PATH" in log.text()
    for name, value in SERVER_SECRETS.items():
        assert name not in log.text() and value not in log.text()


def test_a_model_finds_no_secret_in_any_process_environment_of_a_server_started_with_them(tmp_path):
    require_bubblewrap()
    # The secrets sit in the server process's own startup environment, as with a real worker, so /proc/<pid>/environ
    # of the server would show them to any process that can see it.
    script = environment_probe_model(tmp_path / "model", scan_other_processes=True)
    server = textwrap.dedent(f"""
        import pandas as pd
        from stresstests.engine.sandbox import SandboxedModel
        log = []
        with SandboxedModel({str(script)!r}, model_task={MODEL_TASK_BINARY_CLASSIFICATION!r}, log=log.append) as model:
            predictions = model.predict(pd.DataFrame({{"x": [1, 2]}})).tolist()
        print("\\n".join(log))  # printed after close, so the log thread's lines never interleave with ours
        print("predictions:", predictions)
    """)
    environment = {**os.environ, **SERVER_SECRETS, "PYTHONPATH": str(CODE_ROOT)}
    result = subprocess.run([sys.executable, "-c", server], env=environment, capture_output=True, text=True,
                            timeout=120)

    assert "predictions: [0.0, 0.0]" in result.stdout, result.stderr
    assert "variables:" in result.stdout
    assert not any(value in result.stdout for value in SERVER_SECRETS.values())


def test_auto_isolation_uses_bubblewrap_where_it_works_and_says_so_in_the_log(tmp_path):
    script = write_model(tmp_path / "model", "def predict_df(df):\n    return [0.5] * len(df)\n")
    log = LogLines()
    with sandbox(script, log=log) as model:
        expected = ISOLATION_BUBBLEWRAP if bubblewrap_available() else ISOLATION_PROCESS
        assert model.isolation == expected
        assert f"Model sandbox: {expected}" in log.text()


def test_a_checkout_under_tmp_still_starts_in_bubblewrap(tmp_path, monkeypatch):
    """CI clones the project into a temporary folder: the sandbox's own /tmp must not hide the code it runs."""
    require_bubblewrap()
    from stresstests.engine import sandbox as sandbox_module

    checkout = Path(tempfile.mkdtemp(prefix="rime-checkout-", dir="/tmp"))
    try:
        shutil.copytree(sandbox_module.ENGINE_DIR, checkout / "stresstests" / "engine",
                        ignore=shutil.ignore_patterns("__pycache__"))
        (checkout / "stresstests" / "__init__.py").write_text("")
        monkeypatch.setattr(sandbox_module, "ENGINE_DIR", checkout / "stresstests" / "engine")
        monkeypatch.setattr(sandbox_module, "CODE_ROOT", checkout)
        script = write_model(tmp_path / "model", "def predict_df(df):\n    return [0.25] * len(df)\n")
        with sandbox(script, isolation=ISOLATION_BUBBLEWRAP) as model:
            assert list(model.predict(ROWS)) == [0.25, 0.25, 0.25]
    finally:
        shutil.rmtree(checkout, ignore_errors=True)


def test_without_bubblewrap_auto_falls_back_to_a_plain_process_and_the_log_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr("stresstests.engine.sandbox.bubblewrap_available", lambda: False)
    script = write_model(tmp_path / "model", "def predict_df(df):\n    return [0.5] * len(df)\n")
    log = LogLines()
    with sandbox(script, log=log) as model:
        assert model.isolation == ISOLATION_PROCESS
        assert model.predict(ROWS).tolist() == [0.5, 0.5, 0.5]
    assert "Model sandbox: process" in log.text() and "no filesystem or network isolation" in log.text()


def file_probe_model(folder: Path, targets: list[str], *, mode: str) -> Path:
    """A model that opens each target in `mode`, logs the ones it could open and returns how many it opened."""
    return write_model(folder, f"""
        import numpy as np
        def predict_df(df):
            reached = []
            for target in {targets!r}:
                try:
                    with open(target, {mode!r}) as handle:
                        handle.write("pwned") if {mode!r} == "w" else handle.read()
                    reached.append(target)
                except OSError:
                    pass
            print("reached:", reached)
            return np.full(len(df), float(len(reached)))
    """)


def test_a_model_cannot_write_outside_its_working_folder(tmp_path):
    require_bubblewrap()
    outside = tmp_path / "outside"
    outside.mkdir()
    targets = [outside / "pwned.txt", CODE_ROOT / "stresstests" / "engine" / "pwned.py", Path("/etc/pwned"),
               Path("/usr/pwned"), Path("/pwned")]
    script = file_probe_model(tmp_path / "model", ["inside.txt", *map(str, targets)], mode="w")
    log = LogLines()
    with sandbox(script, log=log) as model:
        predictions = model.predict(ROWS)

    assert "reached: ['inside.txt']" in log.text()  # its own folder stays writable
    assert predictions.tolist() == [1.0, 1.0, 1.0]
    assert not any(target.exists() for target in targets)


def test_a_model_cannot_read_the_servers_files(tmp_path):
    require_bubblewrap()
    private = tmp_path / "other-workspace-upload.csv"
    private.write_text("customer,balance\nAda,100\n")
    targets = [private, CODE_ROOT / "pyproject.toml", CODE_ROOT / "rime_web" / "settings.py", Path("/etc/shadow")]
    script = file_probe_model(tmp_path / "model", ["model.py", *map(str, targets)], mode="r")
    log = LogLines()
    with sandbox(script, log=log) as model:
        predictions = model.predict(ROWS)

    assert "reached: ['model.py']" in log.text()
    assert predictions.tolist() == [1.0, 1.0, 1.0]


def test_a_model_cannot_reach_the_network(tmp_path):
    require_bubblewrap()
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.5)
    port = server.getsockname()[1]
    script = write_model(tmp_path / "model", f"""
        import socket
        import numpy as np
        def predict_df(df):
            try:
                socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
                reached = 1.0
            except OSError as error:
                print("no network:", type(error).__name__)
                reached = 0.0
            return np.full(len(df), reached)
    """)
    log = LogLines()
    with server, sandbox(script, log=log) as model:
        predictions = model.predict(ROWS)
        with pytest.raises(TimeoutError):
            server.accept()

    assert predictions.tolist() == [0.0, 0.0, 0.0]
    assert "no network:" in log.text()


def test_a_model_that_sleeps_forever_is_stopped_with_a_clear_message(tmp_path):
    script = write_model(tmp_path / "model", """
        import time
        def predict_df(df):
            time.sleep(3600)
    """)
    with sandbox(script, wall_timeout_s=2) as model:
        with pytest.raises(ModelOutputError, match="did not answer within 2 s"):
            model.predict(ROWS)
        with pytest.raises(ModelOutputError, match="did not answer within 2 s"):  # the child is gone for good
            model.predict(ROWS)


def test_a_model_that_hangs_while_loading_is_stopped(tmp_path):
    script = write_model(tmp_path / "model", "import time\ntime.sleep(3600)\ndef predict_df(df):\n    return df\n")
    with pytest.raises(ModelLoadError, match="did not finish loading within 2 s"):
        sandbox(script, load_timeout_s=2)


@pytest.mark.parametrize("isolation", BOTH_ISOLATIONS)
def test_a_model_allocating_50_gb_gets_a_clear_memory_message(tmp_path, isolation):
    require_bubblewrap(isolation)
    script = write_model(tmp_path / "model", """
        import numpy as np
        def predict_df(df):
            hoard = np.ones(50 * 1024**3 // 8)
            return hoard[: len(df)]
    """)
    with sandbox(script, memory_limit_mb=1536, isolation=isolation) as model:
        with pytest.raises(ModelOutputError, match="used more than 1536 MB of memory"):
            model.predict(ROWS)
        # A MemoryError is caught in the child, which stays up for the next call.
        with pytest.raises(ModelOutputError, match="used more than 1536 MB"):
            model.predict(ROWS)


def test_a_model_allocating_50_gb_at_import_fails_to_load_with_a_memory_message(tmp_path):
    script = write_model(tmp_path / "model", "hoard = bytearray(50 * 1024**3)\ndef predict_df(df):\n    return df\n")
    with pytest.raises(ModelLoadError, match="used more than 1536 MB of memory"):
        sandbox(script, memory_limit_mb=1536)


def test_a_model_burning_cpu_is_stopped_at_the_cpu_limit(tmp_path):
    script = write_model(tmp_path / "model", """
        def predict_df(df):
            while True:
                pass
    """)
    with sandbox(script, cpu_seconds=4, wall_timeout_s=300) as model:
        with pytest.raises(ModelOutputError, match="more than 4 s of CPU time"):
            model.predict(ROWS)


def test_a_model_process_that_dies_is_reported_with_its_last_words(tmp_path):
    script = write_model(tmp_path / "model", """
        import os, signal, sys
        def predict_df(df):
            print("segfault imminent", file=sys.stderr)
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    with sandbox(script) as model:
        with pytest.raises(ModelOutputError, match="killed by SIGKILL.*segfault imminent"):
            model.predict(ROWS)


def test_a_syntax_error_names_the_file_and_the_line(tmp_path):
    script = write_model(tmp_path / "model", "import numpy as np\n\ndef predict_df(df)\n    return np.zeros(len(df))\n")
    with pytest.raises(ModelLoadError, match=r"model\.py, line 3"):
        sandbox(script)


def test_a_model_without_predict_df_or_predict_dict_is_refused(tmp_path):
    script = write_model(tmp_path / "model", "def predict(df):\n    return [0.5] * len(df)\n")
    with pytest.raises(ModelLoadError, match="predict_df"):
        sandbox(script)


def test_an_exception_at_import_points_at_the_users_line(tmp_path):
    script = write_model(tmp_path / "model", "import numpy\n\nraise RuntimeError('missing weights')\n")
    with pytest.raises(ModelLoadError, match=r"missing weights.*model\.py, line 3"):
        sandbox(script)


def test_an_exception_in_predict_points_at_the_users_line_and_the_child_survives(tmp_path):
    script = write_model(tmp_path / "model", """
        import numpy as np
        def predict_df(df):
            if len(df) > 2:
                raise KeyError("income")
            return np.full(len(df), 0.25)
    """)
    with sandbox(script) as model:
        with pytest.raises(ModelOutputError, match=r"KeyError: 'income' \(in model\.py, line 5, in predict_df\)"):
            model.predict(ROWS)
        assert model.predict(ROWS.head(2)).tolist() == [0.25, 0.25]


@pytest.mark.parametrize(("returned", "message"), [
    ("np.full(len(df) - 1, 0.5)", "2 predictions for 3 rows"),
    ("np.full(len(df), np.nan)", "NaN"),
    ("np.array(['yes'] * len(df))", "strings"),
    ("np.full(len(df), 1.7)", r"outside \[0, 1\]"),
    ("np.ones((len(df), 3)) / 3", r"shape \(n,\)"),
])
def test_bad_output_gets_a_clear_message(tmp_path, returned, message):
    script = write_model(tmp_path / "model", f"""
        import numpy as np
        def predict_df(df):
            return {returned}
    """)
    with sandbox(script) as model:
        with pytest.raises(ModelOutputError, match=message):
            model.predict(ROWS)


def test_the_models_stdout_and_stderr_reach_the_log(tmp_path):
    script = write_model(tmp_path / "model", """
        import sys
        print("loading weights")
        def predict_df(df):
            print("scoring", len(df), "rows")
            print("deprecated option", file=sys.stderr)
            return [0.5] * len(df)
    """)
    log = LogLines()
    with sandbox(script, log=log) as model:
        model.predict(ROWS)
    assert "[model stdout] loading weights" in log
    assert "[model stdout] scoring 3 rows" in log
    assert "[model stderr] deprecated option" in log


def test_rows_reach_the_model_with_their_values_and_types(tmp_path):
    script = write_model(tmp_path / "model", """
        import numpy as np
        def predict_df(df):
            print("columns:", list(df.columns))
            print("mixed:", [type(v).__name__ for v in df["mixed"]])
            return df["amount"].to_numpy() / 10
    """)
    rows = ROWS.assign(mixed=pd.Series([1, "two", None], dtype=object))
    rows[7] = [0.5, 0.25, 0.125]  # a column named by an int, as positional frames have
    log = LogLines()
    with sandbox(script, model_task=MODEL_TASK_REGRESSION, log=log) as model:
        predictions = model.predict(rows)
    assert predictions.tolist() == pytest.approx([0.1, 0.2, 0.3])
    assert "[model stdout] columns: ['amount', 'city', 'mixed', 7]" in log
    assert "[model stdout] mixed: ['int', 'str', 'NoneType']" in log


def test_cancel_from_another_thread_stops_a_running_prediction(tmp_path):
    script = write_model(tmp_path / "model", "import time\ndef predict_df(df):\n    time.sleep(3600)\n")
    with sandbox(script, wall_timeout_s=600) as model:
        threading.Timer(1.0, model.cancel).start()
        with pytest.raises(ModelOutputError, match="cancelled"):
            model.predict(ROWS)


def test_close_removes_the_working_folder_and_ends_the_child(tmp_path):
    script = write_model(tmp_path / "model", "def predict_df(df):\n    return [0.5] * len(df)\n")
    model = sandbox(script)
    workdir, process = model._workdir, model._process
    model.close()
    assert not workdir.exists()
    assert process.poll() is not None


# ---- pickles through the sandbox ----------------------------------------------------------------------------------
def training_rows() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"amount": rng.normal(size=120), "age": rng.normal(size=120),
                          "city": rng.choice(["Rome", "Oslo", "Lima"], size=120)})
    labels = ((frame["amount"] + (frame["city"] == "Rome")) > 0.5).astype(int).to_numpy()
    return frame, labels


def test_a_logistic_regression_pickle_predicts_through_the_sandbox(tmp_path):
    frame, labels = training_rows()
    estimator = LogisticRegression().fit(frame[["amount", "age"]], labels)
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(estimator))
    with sandbox(path) as model:
        predictions = model.predict(frame[["amount", "age"]])
    assert predictions == pytest.approx(estimator.predict_proba(frame[["amount", "age"]])[:, 1])


@pytest.mark.parametrize("compress", [0, 3, ("gzip", 3), ("bz2", 3), ("lzma", 3), ("xz", 3)],
                         ids=["raw", "zlib", "gzip", "bz2", "lzma", "xz"])
def test_a_random_forest_joblib_file_predicts_through_the_sandbox(tmp_path, compress):
    """Reported: lzma and xz files were refused with the default 4096 MB limit (the scan reserved 2 GB at once)."""
    frame, labels = training_rows()
    estimator = RandomForestClassifier(n_estimators=10, random_state=0).fit(frame[["amount", "age"]], labels)
    path = tmp_path / "model.joblib"
    joblib.dump(estimator, path, compress=compress)
    with sandbox(path) as model:
        predictions = model.predict(frame[["amount", "age"]])
    assert predictions == pytest.approx(estimator.predict_proba(frame[["amount", "age"]])[:, 1])


def test_a_pipeline_with_a_column_transformer_predicts_through_the_sandbox(tmp_path):
    frame, labels = training_rows()
    encode = ColumnTransformer([("city", OneHotEncoder(handle_unknown="ignore"), ["city"])], remainder="passthrough")
    pipeline = Pipeline([("encode", encode), ("classify", LogisticRegression())]).fit(frame, labels)
    path = tmp_path / "pipeline.joblib"
    joblib.dump(pipeline, path)
    with sandbox(path) as model:
        predictions = model.predict(frame)
    assert predictions == pytest.approx(pipeline.predict_proba(frame)[:, 1])


def test_a_malicious_pickle_is_refused_in_the_sandbox_without_side_effects(tmp_path):
    proof = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            import os
            return (os.system, (f"touch {proof}",))

    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps({"model": LogisticRegression(), "extra": Payload()}))
    with pytest.raises(ModelLoadError, match=r"posix\.system.*skops"):
        sandbox(path)
    assert not proof.exists()
