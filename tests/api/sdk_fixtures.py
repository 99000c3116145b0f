"""Constructed data for the SDK workflow: a small fraud-like table and a scikit-learn model behind a model.py."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

FEATURES = ["amount", "hour", "merchant"]
LABEL = "is_fraud"
MODEL_PY = '''\
from pathlib import Path

import joblib
import pandas as pd

_MODEL = joblib.load(Path(__file__).parent / "model.joblib")


def predict_df(df: pd.DataFrame):
    frame = df[["amount", "hour"]].astype(float)
    return _MODEL.predict_proba(frame)[:, 1]
'''


def fraud_frame(rows: int, *, seed: int, amount_shift: float = 0.0) -> pd.DataFrame:
    """Fraud is likelier for large amounts at night; the evaluation set is shifted to larger amounts."""
    rng = np.random.default_rng(seed)
    amount = rng.gamma(2.0, 50.0, rows) + amount_shift
    hour = rng.integers(0, 24, rows)
    merchant = rng.choice(["grocery", "travel", "online", "fuel"], rows)
    risk = 0.02 * (amount - 100) + np.where(hour < 6, 1.5, -0.5)
    label = (rng.random(rows) < 1 / (1 + np.exp(-risk))).astype(int)
    return pd.DataFrame({"amount": amount.round(2), "hour": hour, "merchant": merchant, LABEL: label})


def csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def model_folder(folder: Path, reference: pd.DataFrame) -> Path:
    import joblib
    from sklearn.linear_model import LogisticRegression

    folder.mkdir(parents=True, exist_ok=True)
    model = LogisticRegression(max_iter=500).fit(reference[["amount", "hour"]].astype(float), reference[LABEL])
    joblib.dump(model, folder / "model.joblib")
    (folder / "model.py").write_text(MODEL_PY)
    return folder


def upload_fraud_example(s3_client, bucket: str, tmp_path: Path) -> dict[str, str]:
    """Puts reference.csv, evaluation.csv and models/fraud/{model.py, model.joblib} in the bucket; returns S3 URIs."""
    reference = fraud_frame(400, seed=1)
    evaluation = fraud_frame(400, seed=2, amount_shift=40.0)
    s3_client.create_bucket(Bucket=bucket)
    s3_client.upload_fileobj(io.BytesIO(csv_bytes(reference)), bucket, "data/reference.csv")
    s3_client.upload_fileobj(io.BytesIO(csv_bytes(evaluation)), bucket, "data/evaluation.csv")
    for path in model_folder(tmp_path / "model", reference).iterdir():
        s3_client.upload_file(str(path), bucket, f"models/fraud/{path.name}")
    return {
        "reference": f"s3://{bucket}/data/reference.csv",
        "evaluation": f"s3://{bucket}/data/evaluation.csv",
        "model": f"s3://{bucket}/models/fraud/model.py",
    }
