"""Issue-19 follow-up: a model may not exhaust the worker through its output, nor the host through its processes.

The attacks are the outside tester's probes (/tmp/attack/flood, /tmp/attack/fork), cut down to what shows the defect.
"""

from __future__ import annotations

import io

import pytest

from stresstests.engine.errors import ModelLoadError, ModelOutputError
from stresstests.engine.sandbox import MAX_OUTPUT_BYTES, READ_CHUNK, _ModelOutput
from tests.engine.test_engine_sandbox import (
    BOTH_ISOLATIONS,
    ROWS,
    LogLines,
    require_bubblewrap,
    sandbox,
    write_model,
)


class RecordingStream(io.BytesIO):
    """The child's stdout as the pump sees it, remembering the largest piece one read handed the worker."""

    largest_read = 0

    def readline(self, size: int | None = -1) -> bytes:
        line = super().readline(size)
        self.largest_read = max(self.largest_read, len(line))
        return line


def test_a_line_without_newline_is_read_in_bounded_pieces_and_logged_by_its_start():
    stream = RecordingStream(b"A" * (5 * READ_CHUNK) + b"\nnext line\n")
    log = LogLines()
    _ModelOutput(log)._pump(stream, "stdout")
    assert stream.largest_read <= READ_CHUNK
    assert log[0].startswith("[model stdout] AAAA") and len(log[0]) < 2_100
    assert log[1:] == ["[model stdout] next line"]  # the rest of the long line was discarded, not logged as lines


@pytest.mark.parametrize("isolation", BOTH_ISOLATIONS)
def test_a_model_flooding_stdout_without_newline_at_import_is_stopped_with_a_clear_message(tmp_path, isolation):
    """The reported attack wrote 600 MB with no newline; 3x the output cap shows it is stopped, not read whole."""
    require_bubblewrap(isolation)
    script = write_model(tmp_path / "model", f"""
        import os
        chunk = b"A" * (1 << 20)
        for _ in range({3 * MAX_OUTPUT_BYTES // (1 << 20)}):
            os.write(1, chunk)
        def predict_df(df):
            return [0.5] * len(df)
    """)
    log = LogLines()
    with pytest.raises(ModelLoadError, match=r"stopped because it wrote more than 10 MB to its standard output"):
        sandbox(script, log=log, isolation=isolation)
    assert "[model output] the model wrote more than 10 MB to its stdout and stderr, so it was stopped." in log


def test_a_model_flooding_stderr_while_predicting_is_stopped_and_later_calls_fail_at_once(tmp_path):
    script = write_model(tmp_path / "model", f"""
        import os
        def predict_df(df):
            line = b"warning " * 1000 + b"\\n"
            for _ in range({3 * MAX_OUTPUT_BYTES} // len(line)):
                os.write(2, line)
            return [0.5] * len(df)
    """)
    log = LogLines()
    with sandbox(script, log=log) as model:
        with pytest.raises(ModelOutputError, match="wrote more than 10 MB"):
            model.predict(ROWS)
        with pytest.raises(ModelOutputError, match="wrote more than 10 MB"):
            model.predict(ROWS)
    assert sum(len(line) for line in log) < 1_100_000  # the log kept its 1 MB budget


def test_under_bubblewrap_the_models_processes_are_limited(tmp_path):
    """The reported probe forked 300 processes, each with its own 4 GB and 3,600 s. The kernel enforces the limit
    only for a sandbox whose user is not root outside (a root worker is exempt: docs/sandbox.md), so this reads the
    limit the model's process carries, which holds either way."""
    require_bubblewrap()
    script = write_model(tmp_path / "model", """
        import sys
        limits = [line for line in open("/proc/self/limits") if line.startswith("Max processes")]
        sys.stderr.write("LIMIT " + " ".join(limits[0].split()[2:4]) + "\\n")
        def predict_df(df):
            return [0.5] * len(df)
    """)
    log = LogLines()
    with sandbox(script, log=log, isolation="bubblewrap", max_processes=40):
        pass
    assert "[model stderr] LIMIT 40 40" in log
    assert log[0].endswith("1024 MB disk, 40 processes.")


WORKER_UNDER_A_LIMIT = """
import sys
import pandas as pd
from stresstests.engine.sandbox import SandboxedModel
with SandboxedModel(sys.argv[1], model_task="MODEL_TASK_BINARY_CLASSIFICATION", isolation=sys.argv[2]) as model:
    print("scored", [float(p) for p in model.predict(pd.DataFrame({"amount": [1.0, 2.0]}))])
"""


@pytest.mark.parametrize("isolation", BOTH_ISOLATIONS)
def test_a_worker_started_under_a_lower_memory_limit_still_starts_models_within_it(tmp_path, isolation):
    """Issue 18: a worker held to 3 GB (`prlimit --as`) below the sandbox's 4 GB default: the child keeps the
    worker's limit instead of failing to start ('Exception occurred in preexec_fn')."""
    import resource
    import subprocess
    import sys
    from pathlib import Path

    require_bubblewrap(isolation)
    script = write_model(tmp_path / "model", """
        import numpy as np
        def predict_df(df):
            return np.full(len(df), 0.25)
    """)
    limit = 3 * 1024**3

    def hold():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    done = subprocess.run([sys.executable, "-c", WORKER_UNDER_A_LIMIT, str(script), isolation], preexec_fn=hold,
                          capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr[-2000:]
    assert "scored [0.25, 0.25]" in done.stdout
