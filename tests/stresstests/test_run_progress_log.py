"""A run as its page shows it while and after it runs (issue 14, item 7): a log line for every step, progress per test
with the time left, and the "was queued" notice gone once the run finished."""
from __future__ import annotations

import re

import pytest
from django.urls import reverse

from stresstests import execution, services
from stresstests.models import RunStatus

pytestmark = pytest.mark.django_db

STEP = re.compile(r"^\[(\d\d):(\d\d)\] (.*)$")


def test_the_log_shows_every_step_of_the_run(owner, complete_draft, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        run = services.run_submit(user=owner, run=complete_draft)
    execution.run_execute(run.id)       # the Celery task's body, with the model in its sandbox
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    steps = [match.group(3) for line in run.log.splitlines() if (match := STEP.match(line))]
    assert steps[:2] == ["Loading the reference and evaluation data", "Starting the model in its sandbox"]
    assert steps[2] == "Checking and sampling the data"
    assert steps[3].startswith("Profiling the reference data (")
    assert re.fullmatch(r"Scoring \d+ rows with the model", steps[4])
    started = [step for step in steps if re.fullmatch(r"Drift: .+ \(test \d+ of \d+\)", step)]
    total = int(started[0].rsplit(" of ", 1)[1].rstrip(")"))
    assert len(started) == total >= 3
    finished = [step for step in steps if re.fullmatch(r"Drift: .+: (Alert|Warning|Pass|skipped .*|could not run) "
                                                        r"\(\d+\.\d s\)", step)]
    assert len(finished) == total
    assert steps[-3:-1] == ["Writing the report", "Done"] and steps[-1].startswith("Report written: ")
    assert "[model stdout] scored 300 rows" in run.log      # the model's own output is still there


def test_progress_names_the_test_its_position_and_the_time_left(owner, complete_draft,
                                                                 django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        run = services.run_submit(user=owner, run=complete_draft)
    assert execution.run_claim(run.id)
    run.refresh_from_db()
    seen: list[tuple[float, str]] = []
    worker = execution.Execution(run)
    write = worker.progress

    def spy(fraction: float, current: str) -> None:
        write(fraction, current)
        seen.append((fraction, current))

    worker.progress = spy
    worker.finish(worker.run_engine())
    fractions = [fraction for fraction, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    tests = [current for _, current in seen if " (test " in current]
    assert tests and all(" left" in current for current in tests[1:])
    # Every step moves the bar a little: no long stretch at 0 % while data loads and the model scores.
    assert 0 < [f for f, current in seen if current.startswith("Scoring ")][0] < 0.05


def test_the_queued_notice_is_marked_to_go_once_the_run_finishes(client_for, owner, complete_draft,
                                                                 django_capture_on_commit_callbacks):
    client = client_for(owner)
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(reverse("stresstests:wizard_step", args=[complete_draft.id, "evaluation"]),
                               {"source": "registered", "evaluation-dataset": "eval"}, follow=True)
    page = response.content.decode()
    assert '<p class="message run-queued success" data-retire-when="[data-run-finished]">' in page
    assert "was queued." in page and "data-run-finished " not in page and "data-run-finished\n" not in page
    execution.run_execute(complete_draft.id)
    poll = client.get(reverse("stresstests:run_progress", args=[complete_draft.id]), HTTP_HX_REQUEST="true")
    assert '<section id="run-status" aria-labelledby="status-title" data-run-finished' in poll.content.decode()
    # A later visit shows no notice at all: Django's messages are shown once.
    assert "was queued" not in client.get(reverse("stresstests:run_detail", args=[complete_draft.id])).content.decode()
