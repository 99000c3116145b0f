"""The project Settings that *From Project Configuration* uses: what is refused, and that a run picks it up."""
from __future__ import annotations

import pytest
from django.urls import reverse

from stresstests import services

pytestmark = pytest.mark.django_db


def save_settings(client, project, **changes):
    values = {"categories": ["TEST_CATEGORY_TYPE_DRIFT"], "global_test_sensitivity": "TEST_SENSITIVITY_DEFAULT",
              "protected_features": "", "global_exclude_columns": "", "individual_tests_config": "{}"}
    values.update(changes)
    return client.post(reverse("projects:project_settings", args=[project.id]), values)


@pytest.mark.parametrize(("changes", "message"), [
    ({"individual_tests_config": '{"feature_drfit": {"run": false}}'}, "“feature_drfit” is not a test key (did you mean: feature_drift"),
    ({"individual_tests_config": '{"feature_drift": {"run": "no"}}'}, "“feature_drift”: run must be true or false."),
    ({"individual_tests_config": '{"feature_drift": {"colour": 3}}'}, "“feature_drift” has no setting colour; its settings are"),
    ({"protected_features": "age", "global_exclude_columns": "age, id"}, "age cannot be both protected and excluded"),
    ({"categories": ["TEST_CATEGORY_TYPE_BIAS_AND_FAIRNESS"]}, "Bias and Fairness needs at least one protected feature."),
])
def test_settings_refuse_what_a_run_could_not_use(client_for, editor, project, changes, message):
    response = save_settings(client_for(editor), project, **changes)
    assert response.status_code == 200
    assert message in response.content.decode()


def test_a_run_from_project_configuration_uses_the_saved_settings(client_for, editor, project, complete_draft):
    response = save_settings(
        client_for(editor), project, categories=["TEST_CATEGORY_TYPE_BIAS_AND_FAIRNESS"], protected_features="city",
        individual_tests_config='{"demographic_parity": {"run": true}}',
    )
    assert response.status_code == 302
    complete_draft.config_mode = "project"
    complete_draft.project.refresh_from_db()
    config = services.effective_test_run_config(complete_draft)
    assert config["categories"] == ["TEST_CATEGORY_TYPE_BIAS_AND_FAIRNESS"]
    assert config["data_params"] == {"protected_features": ["city"]}
    assert config["test_suite_config"]["individual_tests_config"] == {"demographic_parity": {"run": True}}


def test_viewers_cannot_change_settings(client_for, member, project):
    assert save_settings(client_for(member), project).status_code == 403
