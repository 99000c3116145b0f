"""Benchmark (text): 10,000 generated reviews on each side, every text category, a text model.

The evaluation side carries a mild shift (some longer reviews, a few Cyrillic and empty texts, copies) so that
every test does its full work, findings included; a fifth of the reviews on each side say who wrote them ("Mary from
Burundi said she thought ..."), so the Bias and Fairness swaps (gendered terms, names, countries) have text to
change. The model is pluggable:
  --model lexicon      (default) the lexicon sentiment model as a text model.py, run in the sandbox's child process
  --model hf           the tests' tiny Hugging Face sentiment classifier (a BERT saved with save_pretrained, built
                       once by tests/text_models.py's cached builder into var/text_models/); the reviews are then
                       drawn from the corpus it was trained on, so its predictions mean something
  --model PATH         any model the engine loads: a model.py or a Hugging Face save_pretrained folder
  --no-sandbox         load the model in this process (trusted models only)

Every category runs, the text ones included (Transformations, Adversarial, Bias and Fairness: its text swaps need
no protected feature, so its tabular tests skip with their reason).

Run: .venv/bin/python benchmarks/bench_text.py [--model lexicon|hf|PATH] [--rows 10000] [--no-sandbox]
Prints wall time, time inside model calls (ctx.model_seconds as the report's run.model_calls), peak memory of this
process and of the sandbox child, every test's time and the largest test's share of the run (issue 16: at most 20 %).
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
    parser.add_argument("--model", default="lexicon",
                        help="'lexicon' (a text model.py), 'hf' (the tests' tiny Hugging Face model) or a model path")
    parser.add_argument("--rows", type=int, default=10_000, help="texts on each side")
    parser.add_argument("--no-sandbox", action="store_true", help="load the model in this process")
    return parser.parse_args()


PEOPLE = ["James", "Mary", "Emily", "Aisha", "John", "Keisha", "Michael", "Jennifer"]
COUNTRIES = ["Germany", "France", "Burundi", "Afghanistan", "United Kingdom", "Burkina Faso"]
PRONOUNS = ["he", "she", "they"]


def datasets(rows: int, model: str):
    if model == "hf":   # the corpus the tiny Hugging Face model was trained on (seed 0): fresh draws of it
        from tests.text_models import sentiment_frame

        reference, evaluation = sentiment_frame(rows, seed=1), sentiment_frame(rows, seed=2)
    else:
        reference, evaluation = reviews(rows, seed=1), reviews(rows, seed=2)
    rng = np.random.default_rng(3)
    # People, groups and places for Bias and Fairness to swap (gendered terms, first names, country names).
    for frame in (reference, evaluation):
        mentions = rng.choice(rows, rows // 5, replace=False)
        frame.loc[mentions, "text"] = [
            f"{rng.choice(PEOPLE)} from {rng.choice(COUNTRIES)} said {rng.choice(PRONOUNS)} thought {text}"
            for text in frame.loc[mentions, "text"]]
    longer = rng.choice(rows, rows // 20, replace=False)
    evaluation.loc[longer, "text"] = evaluation.loc[longer, "text"].str.repeat(4)
    evaluation.loc[rng.choice(rows, rows // 100, replace=False), "text"] = "Этот телефон работает отлично."
    evaluation.loc[rng.choice(rows, rows // 200, replace=False), "text"] = ""
    return reference, evaluation


def model_path(choice: str, folder: Path) -> Path:
    if choice == "hf":
        from tests.text_models import SENTIMENT, cached_text_classifier

        return cached_text_classifier(SENTIMENT)
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


def print_test_shares(report: dict, *, wall_s: float) -> None:
    """Every test's time, by category, and the largest test's share of the run (issue 16: no test over 20 %)."""
    tests = [(t.get("duration_s") or 0.0, c["name"], t["test_type"], t.get("status"), t.get("severity"))
             for c in report["categories"] for t in c["tests"]]
    print(f"per-test times ({len(tests)} tests; share of the run's wall time {wall_s:.2f} s):")
    for seconds, category, key, status, severity in sorted(tests, reverse=True):
        print(f"  {seconds:8.3f} s  {100 * seconds / wall_s:5.1f} %  {category} / {key} ({status}, {severity})")
    seconds, category, key, *_ = max(tests)
    in_tests = sum(t[0] for t in tests)
    print(f"in tests: {in_tests:.2f} s; outside any test (sampling, profile, text attributes, scoring the two "
          f"datasets, report): {wall_s - in_tests:.2f} s")
    print(f"largest test: {category} / {key}, {seconds:.2f} s = {100 * seconds / wall_s:.1f} % of the run "
          f"({'within' if seconds <= 0.2 * wall_s else 'OVER'} the 20 % limit), "
          f"{100 * seconds / in_tests:.1f} % of the time spent in tests")
    print(f"categories run: {sorted({c['name'] for c in report['categories']})}")


def main() -> None:
    options = arguments()
    with tempfile.TemporaryDirectory() as folder, contextlib.ExitStack() as stack:
        with Stopwatch() as setup:
            reference, evaluation = datasets(options.rows, options.model)
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
    print_test_shares(report, wall_s=run.seconds)
    text_tests = [t for c in report["categories"] for t in c["tests"] if t["test_type"].startswith("text_")]
    print(f"text tests: {len(text_tests)}, raised: "
          f"{sorted({t['name'] for t in text_tests if t['severity'] not in ('SEVERITY_PASS', None)})}")


if __name__ == "__main__":
    sys.exit(main())
