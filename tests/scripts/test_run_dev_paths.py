"""`make run`'s process manager keeps its files in this process's RIME_VAR_DIR, as the settings do."""
from __future__ import annotations

import importlib.util
import sys

from tests.conftest import ROOT


def test_the_beat_schedule_goes_to_the_var_dir_setting(monkeypatch, tmp_path):
    spec = importlib.util.spec_from_file_location("run_dev_under_test", ROOT / "scripts" / "run_dev.py")
    run_dev = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, run_dev)   # its dataclasses look their module up
    spec.loader.exec_module(run_dev)

    class Recorder:
        def __init__(self):
            self.commands = {}

        def start(self, name, command, **kwargs):
            self.commands[name] = command

    monkeypatch.setenv("RIME_VAR_DIR", str(tmp_path))
    recorder = Recorder()
    run_dev.start_all(recorder, "127.0.0.1", "8123")
    beat = recorder.commands["default worker"]
    assert beat[beat.index("-s") + 1] == str(tmp_path / "celerybeat-schedule")
    assert not any(str(ROOT / "var") in part for command in recorder.commands.values() for part in command)
