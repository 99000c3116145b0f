"""Command-line stress test, without Django: `python manage.py stresstest` wraps `main`.

Exit status: 0 done, 2 bad input (message on stderr), 3 a test reached the `--fail-on` severity.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import IO, Any, Iterator

from stresstests.engine.vocabulary import (
    CATEGORY_DISPLAY_NAMES, MODEL_TASK_BINARY_CLASSIFICATION, MODEL_TASK_MULTICLASS_CLASSIFICATION,
    MODEL_TASK_NATURAL_LANGUAGE_INFERENCE, MODEL_TASK_RANKING, MODEL_TASK_REGRESSION, SEVERITY_ALERT, SEVERITY_ORDER, SEVERITY_WARNING,
)
from stresstests.engine.config import DataParams, RunConfig
from stresstests.engine.errors import ConfigError, DataLoadError, EngineError

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_FAILED_TESTS = 3

TASKS = {"binary": MODEL_TASK_BINARY_CLASSIFICATION, "multiclass": MODEL_TASK_MULTICLASS_CLASSIFICATION,
         "regression": MODEL_TASK_REGRESSION, "ranking": MODEL_TASK_RANKING,
         "nli": MODEL_TASK_NATURAL_LANGUAGE_INFERENCE}
FAIL_ON = {"warning": SEVERITY_WARNING, "alert": SEVERITY_ALERT}
SEVERITY_LABEL = {"SEVERITY_PASS": "Pass", "SEVERITY_WARNING": "Warning", "SEVERITY_ALERT": "Alert", None: "-"}
BAR_WIDTH = 30


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="model.py, a folder holding one, or a model file (.catb/.cbm, .pkl, "
                                        ".joblib, .skops, .onnx, XGBoost .json/.ubj, LightGBM .txt)")
    parser.add_argument("--reference", required=True, help="reference data (csv, parquet, json, jsonl, .gz)")
    parser.add_argument("--evaluation", required=True, help="evaluation data, same columns as the reference")
    parser.add_argument("--label-col", help="label column")
    parser.add_argument("--pred-col", nargs="+", help="prediction column(s) in the data (predictions-only runs)")
    parser.add_argument("--reference-predictions", help="predictions file for the reference rows, in order")
    parser.add_argument("--evaluation-predictions", help="predictions file for the evaluation rows, in order")
    parser.add_argument("--timestamp-col", help="timestamp column")
    parser.add_argument("--task", default="binary", help="binary (default), multiclass, regression, ranking or nli "
                                                         "(natural language inference: --text-features premise,"
                                                         "hypothesis)")
    parser.add_argument("--text-features", help="text columns, comma-separated (data_params.text_features): makes "
                                                "the run a text run; nli: premise,hypothesis")
    parser.add_argument("--query-col", help="ranking: the column grouping rows into queries (ranking_info.query_col)")
    parser.add_argument("--categories", nargs="+", help="test categories, e.g. drift subset_performance, or all")
    parser.add_argument("--protected-features", nargs="+", default=[], help="features for bias and fairness")
    parser.add_argument("--features-not-in-model", nargs="+", default=[], help="columns the model does not use")
    parser.add_argument("--keep-as-features", nargs="+", default=[],
                        help="columns that look like model output (pred*, score, prob*) but are features: test them")
    parser.add_argument("--config", help="JSON file with a RIME test_run_config (and optionally data_params)")
    parser.add_argument("--seed", type=int, help="random seed (default 0, or the config's random_seed)")
    parser.add_argument("--nrows", type=int, help="sample at most this many rows from each dataset")
    parser.add_argument("--output", required=True, help="where to write the JSON report")
    parser.add_argument("--fail-on", choices=sorted(FAIL_ON), help="exit with status 3 when a test reaches this")
    parser.add_argument("--no-sandbox", action="store_true", help="load the model in this process (trusted "
                                                                   "models only)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stresstest", description="Stress-test a model on reference and "
                                                                    "evaluation data and write a JSON report.")
    add_arguments(parser)
    return parser


def main(argv: list[str] | None = None, *, stdout: IO[str] | None = None, stderr: IO[str] | None = None) -> int:
    options = vars(build_parser().parse_args(argv))
    return execute(options, stdout=stdout or sys.stdout, stderr=stderr or sys.stderr)


def execute(options: dict[str, Any], *, stdout: IO[str], stderr: IO[str]) -> int:
    """Run the stress test described by parsed options; returns the exit status."""
    try:
        report = _run(options, stderr)
    except (EngineError, OSError) as error:
        stderr.write(f"\nstresstest: error: {_message(error)}\n")
        return EXIT_BAD_INPUT
    output = Path(options["output"])
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2, allow_nan=False))
    stdout.write(summary_table(report) + f"\nReport written to {output}\n")
    threshold = FAIL_ON.get(options.get("fail_on") or "")
    if threshold and reached(report, threshold):
        stdout.write(f"At least one test reached {SEVERITY_LABEL[threshold]} (--fail-on "
                     f"{options['fail_on']}).\n")
        return EXIT_FAILED_TESTS
    return EXIT_OK


def _message(error: Exception) -> str:
    if isinstance(error, OSError) and not isinstance(error, EngineError):
        return f"{error.strerror or error}: {error.filename}" if error.filename else str(error)
    return str(error)


def _run(options: dict[str, Any], stderr: IO[str]) -> dict:
    from stresstests.engine.data import load_dataset, load_predictions
    from stresstests.engine.data_stream import StreamOptions, predictions_refused
    from stresstests.engine.runner import run_stress_test, sample_seed

    model_task = _task(options["task"])
    config, data_params = _configuration(options)
    keep = config.sampling.nrows or config.sampling.max_rows   # a file too large for memory: streamed, this many kept
    reference, evaluation = (load_dataset(options[role], stream=StreamOptions(
        sample_rows=keep, seed=sample_seed(config.random_seed, role))) for role in ("reference", "evaluation"))
    predictions = {}
    for name, frame in (("reference", reference), ("evaluation", evaluation)):
        path = options.get(f"{name}_predictions")
        if not path:
            continue
        refused = predictions_refused(name, frame)
        if refused:
            raise DataLoadError(refused)
        predictions[name] = load_predictions(path, n_rows=len(frame), model_task=model_task)
    notes: list[str] = []
    progress = None if options.get("quiet") else ProgressBar(stderr)
    with _model(options, model_task, notes) as model:
        report = run_stress_test(
            reference=reference, evaluation=evaluation, config=config, data_params=data_params,
            model_task=model_task, model=model, progress=progress,
            reference_predictions=predictions.get("reference"),
            evaluation_predictions=predictions.get("evaluation"), run_notes=notes)
    if progress:
        progress.finish()
    return report


def _task(name: str) -> str:
    task = TASKS.get(name.lower(), name.upper())
    if task not in TASKS.values():
        raise ConfigError(f"Unknown --task {name!r}; use binary, multiclass, regression, ranking or nli.")
    return task


def _configuration(options: dict[str, Any]) -> tuple[RunConfig, DataParams]:
    raw: dict[str, Any] = {}
    if options.get("config"):
        raw = _read_config(Path(options["config"]))
    data_params = DataParams.from_dict(raw.pop("data_params", None))
    if options.get("categories"):
        raw["categories"] = options["categories"]
    if options.get("seed") is not None:
        raw.setdefault("run_time_info", {})["random_seed"] = options["seed"]
    config = RunConfig.from_dict(raw)
    if options.get("nrows"):
        config.sampling.nrows = options["nrows"]
    pred_col = options.get("pred_col")
    overrides = {
        "label_col": options.get("label_col"), "timestamp_col": options.get("timestamp_col"),
        "pred_col": (pred_col[0] if len(pred_col) == 1 else pred_col) if pred_col else None,
        "protected_features": options.get("protected_features") or None,
        "features_not_in_model": options.get("features_not_in_model") or None,
        "keep_as_features": options.get("keep_as_features") or None,
    }
    for name, value in overrides.items():
        if value is not None:
            setattr(data_params, name, value)
    if options.get("text_features"):
        data_params.text_features = [name.strip() for name in options["text_features"].split(",") if name.strip()]
    if options.get("query_col"):
        data_params.ranking_info = {**(data_params.ranking_info or {}), "query_col": options["query_col"]}
    return config, data_params


def _read_config(path: Path) -> dict:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"Config file {path} does not exist.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"Config file {path} is not valid JSON: {error}.") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"Config file {path} must hold a JSON object (a RIME test_run_config).")
    return raw.get("test_run_config", raw) | ({"data_params": raw["data_params"]} if "data_params" in raw else {})


@contextlib.contextmanager
def _model(options: dict[str, Any], model_task: str, notes: list[str]) -> Iterator[Any]:
    path = options.get("model")
    if not path:
        notes.append("No model given: tests that need to call the model were skipped.")
        yield None
        return
    sandbox = None if options.get("no_sandbox") else _sandbox_class()
    if sandbox is None:
        from stresstests.engine.models import load_model

        reason = "--no-sandbox was given" if options.get("no_sandbox") else "the sandbox module is not available"
        notes.append(f"The model was loaded in the CLI's own process ({reason}), without sandboxing.")
        yield load_model(path, model_task=model_task)
        return
    with sandbox(path, model_task=model_task, log=lambda line: None) as model:
        notes.append(f"The model ran in a sandboxed child process (isolation: {model.isolation}).")
        yield model


def _sandbox_class():
    try:
        from stresstests.engine.sandbox import SandboxedModel
    except ImportError:
        return None
    return SandboxedModel


class ProgressBar:
    """`[#####.....]  45%  Feature Drift` on stderr; one line per 10 % when stderr is not a terminal."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.interactive = bool(getattr(stream, "isatty", lambda: False)())
        self.last_decile = -1
        self.started = time.perf_counter()

    def __call__(self, fraction: float, message: str) -> None:
        filled = int(round(fraction * BAR_WIDTH))
        line = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {fraction:4.0%}  {message[:40]:<40}"
        if self.interactive:
            self.stream.write("\r" + line)
            self.stream.flush()
        elif int(fraction * 10) > self.last_decile:
            self.last_decile = int(fraction * 10)
            self.stream.write(line.rstrip() + "\n")

    def finish(self) -> None:
        if self.interactive:
            self.stream.write("\n")
        self.stream.write(f"Finished in {time.perf_counter() - self.started:.1f} s\n")
        self.stream.flush()


def reached(report: dict, severity: str) -> bool:
    return any(SEVERITY_ORDER.get(test["severity"], -1) >= SEVERITY_ORDER[severity]
               for category in report["categories"] for test in category["tests"])


def summary_table(report: dict) -> str:
    run = report["run"]
    lines = [f"Stress test of a {run['model_task'].removeprefix('MODEL_TASK_').replace('_', ' ').lower()} model: "
             f"{run['reference']['sampled_rows']} reference rows, {run['evaluation']['sampled_rows']} evaluation "
             f"rows, {run['duration_s']:.1f} s (model calls {run['model_calls']['seconds']:.1f} s)", ""]
    lines += _first_lines(report)
    lines += _metrics_lines(run["model_metrics"])
    lines.append(f"{'Category':<32} {'Severity':<9} {'Passed':>8}  Failing tests")
    for category in report["categories"]:
        failing = [f"{t['name']} ({SEVERITY_LABEL[t['severity']]})" for t in category["tests"]
                   if t["severity"] in (SEVERITY_WARNING, SEVERITY_ALERT)]
        passed = f"{category['passed']}/{category['total']}"
        shown = ", ".join(failing[:3]) + (f" +{len(failing) - 3} more" if len(failing) > 3 else "")
        lines.append(f"{CATEGORY_DISPLAY_NAMES[category['category']]:<32} "
                     f"{SEVERITY_LABEL[category['severity']]:<9} {passed:>8}  {shown}")
    counts = run["severity_counts"]
    lines += ["", f"Tests: {counts['alert']} alert, {counts['warning']} warning, {counts['pass']} pass, "
                  f"{counts['skipped']} skipped, {counts['error']} error"]
    if report["key_findings"]:
        lines += ["", "Key findings (one per root cause, worst first):"]
        lines += [_finding_line(finding) for finding in report["key_findings"][:8]]
    return "\n".join(lines) + "\n"


def _first_lines(report: dict) -> list[str]:
    """What the reader must know before any number: an over-fitted reference, columns proposed as predictions."""
    run = report["run"]
    lines = []
    check = run.get("reference_check")
    if check:
        lines.append(f"NOTE: {check['message']}")
    for column in (run.get("schema") or {}).get("left_out_columns") or []:
        lines.append(f"NOTE: {column['reason']} Proposed: --pred-col {column['column']} to use it as the model's "
                     f"predictions, or --keep-as-features {column['column']} to test it as a feature.")
    return lines + [""] if lines else []


def _finding_line(finding: dict | str) -> str:
    if not isinstance(finding, dict):   # schema 1 reports: plain sentences
        return f"- {finding}"
    label = SEVERITY_LABEL.get(finding.get("severity"), "-")
    tests = ", ".join(test["name"] for test in finding.get("tests", [])[:4])
    more = len(finding.get("tests", [])) - 4
    return f"- [{label}] {finding['title']}" + (f"\n    tests: {tests}" + (f" +{more} more" if more > 0 else "")
                                                if tests else "")


def _metrics_lines(metrics: dict) -> list[str]:
    if not metrics:
        return []
    lines = [f"{'Metric':<32} {'Reference':>10} {'Evaluation':>11}"]
    for name, values in list(metrics.items())[:6]:
        lines.append(f"{name:<32} {_number(values['reference']):>10} {_number(values['evaluation']):>11}")
    return lines + [""]


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


if __name__ == "__main__":
    raise SystemExit(main())
