"""Queueing a run: the message goes out by task name after commit; in eager mode the run executes in-process."""
from __future__ import annotations

from celery import current_app

import pytest

from stresstests import services
from stresstests.models import RunStatus


@pytest.fixture
def eager():
    """Sets Celery's eager switch for one test (Celery's settings object cannot be monkeypatched)."""
    before = current_app.conf.task_always_eager

    def set_to(value: bool) -> None:
        current_app.conf.task_always_eager = value

    yield set_to
    current_app.conf.task_always_eager = before


def test_a_submitted_run_is_sent_by_name_to_its_queue_after_commit(complete_draft, owner, monkeypatch, eager,
                                                                    django_capture_on_commit_callbacks):
    sent = []
    eager(False)
    monkeypatch.setattr(current_app, "send_task", lambda name, args, **options: sent.append((name, args, options)))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.run_submit(user=owner, run=complete_draft)
    assert sent == []  # nothing leaves before the row is committed
    for callback in callbacks:
        callback()
    assert sent == [("stresstests.run_stress_test", [str(complete_draft.id)],
                     {"kwargs": {"queue": "stresstests"}, "queue": "stresstests"})]


def test_a_pinned_workspace_sends_its_runs_to_its_own_queue(complete_draft, owner, workspace, monkeypatch, eager,
                                                             django_capture_on_commit_callbacks):
    workspace.celery_queue = "agent-acme"
    workspace.save()
    sent = []
    eager(False)
    monkeypatch.setattr(current_app, "send_task", lambda name, args, **options: sent.append(options))
    with django_capture_on_commit_callbacks(execute=True):
        services.run_submit(user=owner, run=complete_draft)
    assert sent == [{"kwargs": {"queue": "agent-acme"}, "queue": "agent-acme"}]


def test_in_eager_mode_the_run_executes_in_this_process(complete_draft, owner, monkeypatch, eager,
                                                         django_capture_on_commit_callbacks):
    eager(True)
    monkeypatch.setattr(current_app, "send_task", lambda *a, **k: (_ for _ in ()).throw(AssertionError("sent")))
    with django_capture_on_commit_callbacks(execute=True):
        services.run_submit(user=owner, run=complete_draft)
    complete_draft.refresh_from_db()
    assert complete_draft.status == RunStatus.SUCCEEDED, complete_draft.error
