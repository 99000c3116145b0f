"""The Create Stress Test wizard's steps: their order, titles and when each counts as done.

The draft is a StressTestRun row (status DRAFT); a step is done when the row holds what it asks for, so the wizard
needs no session state and a reload or a later visit resumes where the user left off.
"""
from __future__ import annotations

from dataclasses import dataclass

from projects.models import RISK_GROUPS, TestCategory

from .models import StressTestRun
from .wizard_checks import model_check_failed


@dataclass(frozen=True)
class Step:
    slug: str
    title: str
    # Datasets steps share one form class; the prefix keeps their field ids apart.
    dataset_role: str = ""


STEPS = (
    Step("configuration", "Test Configuration"),
    Step("model", "Model"),
    Step("reference", "Reference Dataset", dataset_role="reference"),
    Step("evaluation", "Evaluation Dataset", dataset_role="evaluation"),
)
STEP_BY_SLUG = {step.slug: step for step in STEPS}
CONFIGURED_MARK = "configuration"


# Steps that wait for the model check (wizard_checks) before moving on.
MODEL_CHECKED_STEPS = ("model",)


def is_step_done(run: StressTestRun, step: Step) -> bool:
    """A step is done when the row holds its choice and the model check has not failed on it."""
    if step.slug == "configuration":
        return bool(run.wizard_step)
    if step.slug == "model":
        return run.model_id is not None and not model_check_failed(run, with_dataset=False)
    if step.slug == "reference":
        return run.reference_dataset_id is not None and not model_check_failed(run, with_dataset=True)
    return run.evaluation_dataset_id is not None


def first_incomplete_step(run: StressTestRun) -> Step | None:
    return next((step for step in STEPS if not is_step_done(run, step)), None)


def may_open(run: StressTestRun, step: Step) -> bool:
    """A step can be opened when every step before it is done (deep links to later steps are redirected)."""
    for earlier in STEPS[: STEPS.index(step)]:
        if not is_step_done(run, earlier):
            return False
    return True


def step_before(step: Step) -> Step | None:
    position = STEPS.index(step)
    return STEPS[position - 1] if position else None


def step_after(step: Step) -> Step | None:
    position = STEPS.index(step)
    return STEPS[position + 1] if position + 1 < len(STEPS) else None


def risk_groups() -> list[tuple[str, list[tuple[str, str]]]]:
    """[(group title, [(category enum, label)])] for the Custom risk-type picker."""
    return [(title, [(str(category), TestCategory(category).label) for category in members])
            for title, members in RISK_GROUPS.items()]
