"""A broker that loses its queued messages (restart without persistence, a flushed Redis) loses no run."""
from __future__ import annotations

import pytest

from stresstests import recovery, services
from stresstests.models import RunStatus
from tests.conftest import wait_until

from .conftest import status_of, wipe_broker_queues

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_queued_run_whose_message_the_broker_lost_is_queued_again_and_completes(start_worker, settings, owner,
                                                                                   complete_draft):
    run = services.run_submit(user=owner, run=complete_draft)  # no worker yet: the message waits in the broker
    queue = recovery.run_queue_name(run)
    assert recovery.broker_queue_size(queue) == 1
    wipe_broker_queues(settings)
    assert recovery.broker_queue_size(queue) == 0

    # The sweeper runs from beat every 2 s and queues runs not claimed within 3 s.
    start_worker("sweeper", env={"STRESS_TEST_REQUEUE_AFTER_S": "3", "STRESS_TEST_REAPER_INTERVAL_S": "2"}, beat=True)
    wait_until(lambda: status_of(run, RunStatus.SUCCEEDED, RunStatus.FAILED), timeout=120,
               message="the re-queued run to end")
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.summary


def test_the_sweeper_re_sends_only_lost_messages_of_runs_queued_long_enough(settings, empty_broker_afterwards, owner,
                                                                            complete_draft):
    settings.STRESS_TEST_REQUEUE_AFTER_S = 3600
    run = services.run_submit(user=owner, run=complete_draft)
    queue = recovery.run_queue_name(run)
    wipe_broker_queues(settings)
    assert recovery.requeue_lost_runs() == []  # queued a moment ago: its message may still be on its way

    settings.STRESS_TEST_REQUEUE_AFTER_S = 0
    assert recovery.requeue_lost_runs() == [run.id]
    assert recovery.broker_queue_size(queue) == 1
    assert recovery.requeue_lost_runs() == []  # its message is back in the queue: no duplicate
    assert recovery.broker_queue_size(queue) == 1

