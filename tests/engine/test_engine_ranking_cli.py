"""`stresstest --task ranking --query-col ...`: a pointwise ranking model.py, run in the sandbox, end to end."""

from __future__ import annotations

import io
import json

import numpy as np

from stresstests.engine import cli
from stresstests.engine.vocabulary import MODEL_TASK_RANKING
from tests.engine.test_engine_ranking import searches

MODEL = '''
import numpy as np
import pandas as pd


def predict_df(df: pd.DataFrame) -> np.ndarray:
    # Pointwise: one real score per row; the query column is not sent to the model.
    assert "query" not in df.columns and "relevance" not in df.columns
    return df["signal"].to_numpy(dtype=float)
'''


def _cli(*args: str) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    status = cli.main(list(args), stdout=stdout, stderr=stderr)
    return status, stdout.getvalue(), stderr.getvalue()


def test_a_ranking_model_py_is_stress_tested_from_the_command_line(tmp_path):
    (tmp_path / "model.py").write_text(MODEL)
    searches(120, 1).drop(columns=["score"]).to_csv(tmp_path / "ref.csv", index=False)
    searches(120, 2, broken_city="Rome").drop(columns=["score"]).to_csv(tmp_path / "eval.csv", index=False)
    output = tmp_path / "report.json"
    status, stdout, stderr = _cli(
        "--model", str(tmp_path / "model.py"), "--reference", str(tmp_path / "ref.csv"),
        "--evaluation", str(tmp_path / "eval.csv"), "--label-col", "relevance", "--task", "ranking",
        "--query-col", "query", "--categories", "model_performance", "subset_performance", "--output", str(output),
        "--quiet")
    assert status == cli.EXIT_OK, stderr
    report = json.loads(output.read_text())
    assert report["run"]["model_task"] == MODEL_TASK_RANKING
    assert set(report["run"]["model_metrics"]) == {"ndcg", "mrr", "average_rank", "rank_correlation"}
    tests = {t["test_type"]: t for c in report["categories"] for t in c["tests"]}
    assert {"ndcg", "mrr", "average_rank", "rank_correlation", "subset_ndcg", "subset_mrr"} <= set(tests)
    assert all(t["severity"] is not None for t in tests.values())     # ran, not skipped
    assert "ranking model" in stdout


def test_ranking_without_a_query_column_exits_2_with_the_reason(tmp_path):
    searches(10, 1).to_csv(tmp_path / "ref.csv", index=False)
    status, _, stderr = _cli("--reference", str(tmp_path / "ref.csv"), "--evaluation", str(tmp_path / "ref.csv"),
                             "--label-col", "relevance", "--pred-col", "score", "--task", "ranking",
                             "--output", str(tmp_path / "r.json"))
    assert status == cli.EXIT_BAD_INPUT
    assert "ranking_info.query_col" in stderr and "--query-col" in stderr


def test_text_relevance_grades_are_refused_as_not_numbers(tmp_path):
    frame = searches(10, 1)
    frame["relevance"] = np.where(frame["relevance"] > 0, "good", "bad")
    frame.to_csv(tmp_path / "ref.csv", index=False)
    status, _, stderr = _cli("--reference", str(tmp_path / "ref.csv"), "--evaluation", str(tmp_path / "ref.csv"),
                             "--label-col", "relevance", "--pred-col", "score", "--task", "ranking",
                             "--query-col", "query", "--output", str(tmp_path / "r.json"))
    assert status == cli.EXIT_BAD_INPUT
    assert "relevance grades must be numbers" in stderr and "bad, good" in stderr
    assert "class names" not in stderr
