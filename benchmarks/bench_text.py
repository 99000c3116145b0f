"""Benchmark (text): 10,000 generated reviews on each side, every text category, a text model.

The evaluation side carries a mild shift (some longer reviews, a few Cyrillic and empty texts, copies) so that
every test does its full work, findings included. The model is pluggable:
  --model lexicon      (default) the lexicon sentiment model as a text model.py, run in the sandbox's child process
  --model PATH         any model the engine loads: a model.py, or (after merge) a Hugging Face save_pretrained folder
  --no-sandbox         load the model in this process (trusted models only)

Run: .venv/bin/python benchmarks/bench_text.py [--model lexicon|PATH] [--rows 10000] [--no-sandbox]
Prints wall time, time inside model calls (ctx.model_seconds as the report's run.model_calls), peak memory of this
process and of the sandbox child, and the slowest tests.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from pathlib import Path

from measure import Stopwatch, peak_memory_mb, print_figures

import numpy as np

from stresstests.engine.config import DataParams, RunConfig
from stresstests.engine.runner import run_stress_test
from stresstests.engine.vocabulary import ALL_CATEGORIES, MODEL_TASK_BINARY_CLASSIFICATION
import stresstests.engine.categories  # noqa: F401  (imports every category, as a running worker already has)
from tests.engine.text_helpers import LEXICON_MODEL_PY, reviews


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="lexicon", help="'lexicon' (a text model.py) or a model path")
    parser.add_argument("--rows", type=int, default=10_000, help="texts on each side")
    parser.add_argument("--no-sandbox", action="store_true", help="load the model in this process")
    return parser.parse_args()


def datasets(rows: int):
    reference = reviews(rows, seed=1)
    evaluation = reviews(rows, seed=2)
    rng = np.random.default_rng(3)
    longer = rng.choice(rows, rows // 20, replace=False)
    evaluation.loc[longer, "text"] = evaluation.loc[longer, "text"].str.repeat(4)
    evaluation.loc[rng.choice(rows, rows // 100, replace=False), "text"] = "Этот телефон работает отлично."
    evaluation.loc[rng.choice(rows, rows // 200, replace=False), "text"] = ""
    return reference, evaluation


def model_path(choice: str, folder: Path) -> Path:
    if choice != "lexicon":
        return Path(choice)
    path = folder / "model.py"
    path.write_text(LEXICON_MODEL_PY)
    return path


def load(path: Path, sandbox: bool):
    if sandbox:
        from stresstests.engine.sandbox import SandboxedModel

        return SandboxedModel(path, model_task=MODEL_TASK_BINARY_CLASSIFICATION)
    from stresstests.engine.models import load_model

    return load_model(path, model_task=MODEL_TASK_BINARY_CLASSIFICATION)


def main() -> None:
    options = arguments()
    with tempfile.TemporaryDirectory() as folder, contextlib.ExitStack() as stack:
        with Stopwatch() as setup:
            reference, evaluation = datasets(options.rows)
            model = load(model_path(options.model, Path(folder)), not options.no_sandbox)
            if hasattr(model, "__enter__"):
                model = stack.enter_context(model)
        with Stopwatch() as run:
            report = run_stress_test(reference=reference, evaluation=evaluation,
                                     config=RunConfig.from_dict({"categories": list(ALL_CATEGORIES)}),
                                     data_params=DataParams(label_col="label", text_features=["text"]),
                                     model_task=MODEL_TASK_BINARY_CLASSIFICATION, model=model)
    print_figures(f"text: {options.rows} reviews each side, model {options.model} "
                  f"({'in process' if options.no_sandbox else 'sandboxed'})", report, wall_s=run.seconds,
                  setup_s=setup.seconds, cpu_s=run.cpu_seconds)
    print(f"peak memory of the model's child process:   {peak_memory_mb(children=True):.0f} MB")
    text_tests = [t for c in report["categories"] for t in c["tests"] if t["test_type"].startswith("text_")]
    print(f"text tests: {len(text_tests)}, raised: "
          f"{sorted({t['name'] for t in text_tests if t['severity'] not in ('SEVERITY_PASS', None)})}")


if __name__ == "__main__":
    sys.exit(main())
