"""Registry fixtures: media in a temporary folder, constructed datasets and model folders with known answers."""
from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

MODEL_PY = """
import json
from pathlib import Path

import numpy as np

WEIGHTS = json.loads((Path(__file__).parent / "weights.json").read_text())


def predict_df(df):
    score = df["amount"].to_numpy(dtype=float) * WEIGHTS["amount"]
    return 1 / (1 + np.exp(-score))
"""


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                                                          "OPTIONS": {"location": str(tmp_path / "media")}}}
    # Django's setting_changed handler resets default_storage, so every test writes to its own folder.


def fraud_frame(n_rows: int = 60) -> pd.DataFrame:
    """amount decides fraud: the known answer the model below reproduces."""
    amounts = [float(i % 12) - 5.5 for i in range(n_rows)]
    return pd.DataFrame({
        "amount": amounts,
        "city": ["Rome" if i % 3 else "Oslo" for i in range(n_rows)],
        "is_fraud": [int(a > 0) for a in amounts],
        "ts": pd.date_range("2024-01-01", periods=n_rows, freq="h").astype(str),
    })


def csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


@pytest.fixture
def fraud_csv_upload():
    return SimpleUploadedFile("fraud.csv", csv_bytes(fraud_frame()), content_type="text/csv")


@pytest.fixture
def model_files() -> dict[str, bytes]:
    return {"model.py": MODEL_PY.encode(), "weights.json": b'{"amount": 2.0}'}


def uploads(files: dict[str, bytes]) -> list[SimpleUploadedFile]:
    return [SimpleUploadedFile(name, content) for name, content in files.items()]


def zip_bytes(files: dict[str, bytes]) -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def write_folder(folder: Path, files: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (folder / name).write_bytes(content)
    return folder
