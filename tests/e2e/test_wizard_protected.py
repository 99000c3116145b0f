"""Issue 14, round 2, item 1 in a real browser: at the evaluation step of a Custom + Bias and Fairness draft, the user
unticks the proposed protected feature, ticks another, then presses the one-click fix "Use timestamp as the timestamp
column": the ticks are sent with the fix (one form, the fix button's formaction) and saved, so the run tests them."""
from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from stresstests.models import StressTestRun
from tests.stresstests.conftest import draft, registered_model, upload  # noqa: F401 (fixtures)
from tests.stresstests.test_wizard_checks import with_timestamp
from tests.stresstests.test_wizard_newuser2 import fraud_like

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
expect.set_options(timeout=20_000)


@pytest.fixture
def bias_draft(draft, owner, project, registered_model):  # noqa: F811 (fixtures)
    from projects.registries import services as registry
    from stresstests import services
    from tests.stresstests import data

    def register(name, frame):
        return registry.dataset_register(user=owner, project=project, name=name, source="upload", validate=False,
                                         data_params={"label_col": data.LABEL},
                                         file=upload(f"{name}.csv", data.csv_bytes(frame)))

    services.run_save_configuration(user=owner, run=draft, config_mode="custom", name="Fair", random_seed=None,
                                    categories=["TEST_CATEGORY_TYPE_BIAS_AND_FAIRNESS", "TEST_CATEGORY_TYPE_DRIFT"])
    services.run_set_model(user=owner, run=draft, model=registered_model)
    services.run_set_dataset(user=owner, run=draft, role="reference", dataset=register("ref", fraud_like(1)))
    services.run_set_dataset(user=owner, run=draft, role="evaluation",
                             dataset=register("eval", with_timestamp(fraud_like(2))))
    return draft


def test_a_fix_button_keeps_the_protected_features_ticked_before_it(sign_in, live_server, owner, bias_draft):
    page = sign_in(owner)
    page.goto(live_server.url + reverse("stresstests:wizard_step", args=[bias_draft.id, "evaluation"]))
    country, category = page.get_by_label("country (proposed)"), page.get_by_label("category", exact=True)
    expect(country).to_be_checked()
    expect(page.get_by_text("Bias and Fairness needs protected features")).to_have_count(0)  # one is ticked
    country.uncheck()
    category.check()
    page.get_by_role("button", name="Use timestamp as the timestamp column").click()
    expect(page.get_by_text("The two datasets have the same columns; timestamp column: timestamp")).to_be_visible()
    expect(page.get_by_label("category", exact=True)).to_be_checked()
    expect(page.get_by_label("country (proposed)")).not_to_be_checked()
    assert StressTestRun.objects.get(id=bias_draft.id).config["data_params"]["protected_features"] == ["category"]
