"""Pickled models: hostile files are refused by name without running anything; real models load and predict."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from stresstests.engine.errors import ModelLoadError
from stresstests.engine.safe_pickle import load_pickle, scan_pickle


class ShellPayload:
    """Unpickling this runs a shell command that creates `proof`; the tests check it never exists."""

    def __init__(self, proof: Path) -> None:
        self.proof = proof

    def __reduce__(self):
        return (os.system, (f"touch {self.proof}",))


def protocol_2(body: bytes) -> bytes:
    """A hand-written pickle: protocol header, then protocol-0 opcodes that name globals as text."""
    return b"\x80\x02" + body


def fitted_rows() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"amount": rng.normal(size=150), "age": rng.normal(size=150),
                          "city": rng.choice(["Rome", "Oslo", "Lima"], size=150)})
    labels = ((frame["amount"] - (frame["city"] == "Oslo")) > 0).astype(int).to_numpy()
    return frame, labels


@pytest.fixture
def proof(tmp_path) -> Path:
    return tmp_path / "pwned"


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def assert_refused(path: Path, global_name: str) -> None:
    with pytest.raises(ModelLoadError) as refusal:
        load_pickle(path)
    assert global_name in str(refusal.value)
    assert "skops" in str(refusal.value) and "ONNX" in str(refusal.value)


# ---- hostile files ------------------------------------------------------------------------------------------------
def test_a_plain_os_system_pickle_is_refused_naming_the_global(tmp_path, proof):
    path = write(tmp_path / "model.pkl", pickle.dumps(ShellPayload(proof)))
    assert_refused(path, "posix.system")
    assert scan_pickle(path) == ["posix.system"]
    assert not proof.exists()


def test_a_payload_in_a_dict_next_to_a_real_model_is_refused(tmp_path, proof):
    frame, labels = fitted_rows()
    model = LogisticRegression().fit(frame[["amount", "age"]], labels)
    path = write(tmp_path / "model.pkl", pickle.dumps({"model": model, "extra": ShellPayload(proof)}))
    assert_refused(path, "posix.system")
    assert not proof.exists()


COMPRESSIONS = [0, 3, ("gzip", 3), ("bz2", 3), ("lzma", 3), ("xz", 3)]
COMPRESSION_IDS = ["raw", "zlib", "gzip", "bz2", "lzma", "xz"]


@pytest.mark.parametrize("compress", COMPRESSIONS, ids=COMPRESSION_IDS)
def test_a_payload_after_numpy_arrays_in_a_joblib_file_is_refused(tmp_path, proof, compress):
    # picklescan stops at the first raw array buffer, and sees nothing at all inside a compressed file.
    path = tmp_path / "model.joblib"
    joblib.dump({"weights": np.arange(5000.0), "payload": ShellPayload(proof)}, path, compress=compress)
    assert_refused(path, "posix.system")
    assert scan_pickle(path) == ["posix.system"]
    assert not proof.exists()


@pytest.mark.parametrize(("body", "global_name"), [
    (b"cbuiltins\neval\n(S'open(\"PROOF\", \"w\")'\ntR.", "builtins.eval"),
    (b"cbuiltins\nexec\n(S'open(\"PROOF\", \"w\")'\ntR.", "builtins.exec"),
    (b"cbuiltins\ngetattr\n(cbuiltins\n__import__\n(S'os'\ntRS'system'\ntR(S'touch PROOF'\ntR.", "builtins.getattr"),
    (b"cnumpy\nload\n(S'/etc/passwd'\ntR.", "numpy.load"),
    (b"cnumpy\nmemmap\n(S'PROOF'\nS'uint8'\nS'w+'\nI0\n(I10\nttR.", "numpy.memmap"),
    (b"cnumpy._core.memmap\nmemmap\n(S'PROOF'\nS'uint8'\nS'w+'\nI0\n(I10\nttR.", "numpy._core.memmap.memmap"),
    (b"cpandas\nread_csv\n(S'/etc/passwd'\ntR.", "pandas.read_csv"),
    (b"cpandas\nread_pickle\n(S'PROOF'\ntR.", "pandas.read_pickle"),
    (b"cimportlib\nimport_module\n(S'os'\ntR.", "importlib.import_module"),
    (b"csys\nmodules\n.", "sys.modules"),
    (b"csubprocess\ncheck_call\n((S'touch'\nS'PROOF'\nltR.", "subprocess.check_call"),
    (b"csklearn.utils._testing\nTempMemmap\n(I0\ntR.", "sklearn.utils._testing.TempMemmap"),
    (b"cbuiltins\ntype\n(S'X'\n(t}tR.", "builtins.type"),
    (b"cfunctools\npartial\n(cos\nsystem\nS'touch PROOF'\ntR.", "functools.partial"),
])
def test_gadget_globals_are_refused(tmp_path, proof, body, global_name):
    path = write(tmp_path / "model.pkl", protocol_2(body.replace(b"PROOF", str(proof).encode())))
    assert_refused(path, global_name)
    assert global_name in scan_pickle(path)
    assert not proof.exists()


def test_a_dotted_name_cannot_walk_from_an_allowed_package_to_ctypes(tmp_path):
    # Protocol 4 resolves "ctypes.CDLL" as an attribute path from the numpy module.
    data = b"\x80\x04\x8c\x05numpy\x8c\x0bctypes.CDLL\x93\x8c\x04libc\x85R."
    path = write(tmp_path / "model.pkl", data)
    assert_refused(path, "numpy.ctypes.CDLL")


def test_a_pickle_that_patches_a_library_class_is_refused(tmp_path):
    # BUILD on a class would replace LogisticRegression.predict for every model loaded afterwards.
    path = write(tmp_path / "model.pkl", protocol_2(b"csklearn.linear_model\nLogisticRegression\n(}S'predict'\nNtb."))
    with pytest.raises(ModelLoadError, match="tries to change the class"):
        load_pickle(path)
    assert callable(LogisticRegression.predict)


def test_scan_lists_every_refused_global_without_running_any(tmp_path, proof):
    body = b"(cbuiltins\neval\n(S'1'\ntRcposix\nsystem\n(S'touch PROOF'\ntRl."
    path = write(tmp_path / "model.pkl", protocol_2(body.replace(b"PROOF", str(proof).encode())))
    assert scan_pickle(path) == ["builtins.eval", "posix.system"]
    assert not proof.exists()


@pytest.mark.parametrize("global_name", ["sklearn.linear_model.RetiredRegression", "xgboost.sklearn.XGBRetired"])
def test_a_class_this_server_lacks_is_explained_as_a_version_problem_not_an_attack(tmp_path, global_name):
    module, name = global_name.rsplit(".", 1)
    path = write(tmp_path / "model.pkl", protocol_2(f"c{module}\n{name}\n)R.".encode()))
    with pytest.raises(ModelLoadError, match=f"needs {global_name}.*version"):
        load_pickle(path)
    assert scan_pickle(path) == []


@pytest.mark.parametrize(("content", "message"), [
    (b"", "is empty"),
    (b"PK\x03\x04rest-of-a-zip", "zip archive"),
    (b"import os\nos.system('ls')\n", "not a pickle"),
    (b"\x80\x04garbage", "damaged"),
])
def test_files_that_are_not_pickles_get_a_clear_message(tmp_path, content, message):
    with pytest.raises(ModelLoadError, match=message):
        load_pickle(write(tmp_path / "model.pkl", content))


@pytest.mark.parametrize("compress", [3, ("bz2", 3), ("xz", 3)], ids=["zlib", "bz2", "xz"])
def test_a_compressed_file_that_decompresses_past_the_limit_is_refused(tmp_path, compress):
    path = tmp_path / "model.joblib"
    joblib.dump({"weights": np.zeros(2_000_000)}, path, compress=compress)  # 16 MB of zeros, a few kB on disk
    with pytest.raises(ModelLoadError, match="decompresses to more than 1 MB"):
        load_pickle(path, max_bytes=1024**2)


SCAN_UNDER_A_MEMORY_LIMIT = """
import resource, sys
limit = int(sys.argv[2]) * 1024**2
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from stresstests.engine.safe_pickle import load_pickle
print(type(load_pickle(sys.argv[1])).__name__)
"""


@pytest.mark.parametrize("compress", COMPRESSIONS, ids=COMPRESSION_IDS)
def test_a_compressed_model_is_scanned_and_loaded_in_bounded_memory(tmp_path, compress):
    """Reported: every lzma/xz joblib model was refused for memory, as the scan reserved its 2 GB limit at once."""
    frame, labels = fitted_rows()
    path = tmp_path / "model.joblib"
    joblib.dump(LogisticRegression().fit(frame[["amount", "age"]], labels), path, compress=compress)
    environment = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
                   "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    # 1.5 GB of address space: enough for Python with numpy, scipy and scikit-learn, well under the 2 GB scan limit.
    result = subprocess.run([sys.executable, "-c", SCAN_UNDER_A_MEMORY_LIMIT, str(path), "1536"], env=environment,
                            capture_output=True, text=True, timeout=300)
    assert result.stdout.strip() == "LogisticRegression", result.stderr[-2000:]


def test_an_oversized_pickle_is_refused_before_reading(tmp_path):
    path = write(tmp_path / "model.pkl", pickle.dumps(np.zeros(200_000)))
    with pytest.raises(ModelLoadError, match="above the 1 MB limit"):
        load_pickle(path, max_bytes=1024**2)


# ---- real models --------------------------------------------------------------------------------------------------
def test_a_logistic_regression_pickle_loads_and_predicts_the_same(tmp_path):
    frame, labels = fitted_rows()
    model = LogisticRegression().fit(frame[["amount", "age"]], labels)
    path = write(tmp_path / "model.pkl", pickle.dumps(model))
    loaded = load_pickle(path)
    assert scan_pickle(path) == []
    assert np.array_equal(loaded.predict_proba(frame[["amount", "age"]]), model.predict_proba(frame[["amount", "age"]]))


@pytest.mark.parametrize("compress", COMPRESSIONS, ids=COMPRESSION_IDS)
def test_a_random_forest_joblib_file_loads_and_predicts_the_same(tmp_path, compress):
    frame, labels = fitted_rows()
    model = RandomForestClassifier(n_estimators=8, random_state=np.random.RandomState(0))
    model.fit(frame[["amount", "age"]], labels)
    path = tmp_path / "model.joblib"
    joblib.dump(model, path, compress=compress)
    loaded = load_pickle(path)
    assert scan_pickle(path) == []
    assert np.array_equal(loaded.predict_proba(frame[["amount", "age"]]), model.predict_proba(frame[["amount", "age"]]))


def test_a_pipeline_with_column_transformer_and_one_hot_encoder_loads(tmp_path):
    frame, labels = fitted_rows()
    numeric = Pipeline([("impute", SimpleImputer()), ("scale", StandardScaler())])
    encode = ColumnTransformer([("numeric", numeric, ["amount", "age"]),
                                ("city", OneHotEncoder(handle_unknown="ignore"), ["city"])])
    model = Pipeline([("encode", encode), ("classify", LogisticRegression())]).fit(frame, labels)
    path = tmp_path / "pipeline.joblib"
    joblib.dump(model, path)
    loaded = load_pickle(path)
    assert np.array_equal(loaded.predict_proba(frame), model.predict_proba(frame))


def test_a_pickled_data_frame_with_strings_and_categories_loads(tmp_path):
    frame = pd.DataFrame({"city": pd.Categorical(["Rome", "Oslo"]), "name": ["a", None],
                          "when": pd.to_datetime(["2024-01-01", "2024-02-01"]), "count": pd.array([1, None])})
    path = write(tmp_path / "frame.pkl", pickle.dumps(frame))
    pd.testing.assert_frame_equal(load_pickle(path), frame)
