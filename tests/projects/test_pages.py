"""Happy paths of the foundation pages: creating workspaces and projects, members, settings."""
from __future__ import annotations

import pytest
from django.urls import reverse

from projects.models import AuditEvent, Membership, Project, Role, Workspace


def test_a_user_creates_a_workspace_and_becomes_its_admin(client_for, make_user):
    user = make_user("alice")
    response = client_for(user).post(reverse("projects:workspace_list"), {"name": "Risk", "description": ""})
    workspace = Workspace.objects.get(name="Risk")
    assert response.status_code == 302
    assert Membership.objects.get(workspace=workspace, user=user).role == Role.ADMIN


def test_duplicate_workspace_name_is_refused_with_a_message(client_for, owner):
    response = client_for(owner).post(reverse("projects:workspace_list"), {"name": "acme"})
    assert response.status_code == 200
    assert "already exists" in response.content.decode()


def test_an_editor_creates_a_project(client_for, editor, workspace):
    response = client_for(editor).post(
        reverse("projects:project_create", args=[workspace.id]),
        {"name": "Churn", "description": "d", "model_task": "MODEL_TASK_REGRESSION"},
    )
    project = Project.objects.get(name="Churn")
    assert response["Location"] == reverse("projects:project_detail", args=[project.id])
    assert project.model_task == "MODEL_TASK_REGRESSION"
    assert AuditEvent.objects.filter(action="project.create", object_id=str(project.id)).exists()


def test_the_project_form_offers_natural_language_inference(client_for, editor, workspace):
    page = client_for(editor).get(reverse("projects:project_create", args=[workspace.id])).content.decode()
    assert "MODEL_TASK_NATURAL_LANGUAGE_INFERENCE" in page and "Text classification is binary or multiclass" in page
    client_for(editor).post(reverse("projects:project_create", args=[workspace.id]),
                            {"name": "Entailment", "model_task": "MODEL_TASK_NATURAL_LANGUAGE_INFERENCE"})
    assert Project.objects.get(name="Entailment").model_task == "MODEL_TASK_NATURAL_LANGUAGE_INFERENCE"


def test_project_names_are_unique_in_a_workspace(client_for, owner, project, workspace):
    response = client_for(owner).post(
        reverse("projects:project_create", args=[workspace.id]),
        {"name": "Fraud", "model_task": "MODEL_TASK_BINARY_CLASSIFICATION"},
    )
    assert response.status_code == 200
    assert "already has a project" in response.content.decode()
    assert Project.objects.filter(workspace=workspace).count() == 1


def test_project_page_has_the_left_navigation(client_for, member, project):
    html = client_for(member).get(reverse("projects:project_detail", args=[project.id])).content.decode()
    for label in ("Stress Testing", "Models", "Datasets", "Settings"):
        assert f">{label}</a>" in html


def test_an_admin_adds_changes_and_removes_a_member(client_for, owner, workspace, make_user):
    make_user("bob")
    client = client_for(owner)
    client.post(reverse("projects:members", args=[workspace.id]), {"username": "bob", "role": "viewer"})
    membership = Membership.objects.get(workspace=workspace, user__username="bob")
    client.post(reverse("projects:member_change_role", args=[workspace.id, membership.id]), {"role": "editor"})
    membership.refresh_from_db()
    assert membership.role == Role.EDITOR
    client.post(reverse("projects:member_remove", args=[workspace.id, membership.id]))
    assert not Membership.objects.filter(id=membership.id).exists()


def test_adding_an_unknown_user_says_so(client_for, owner, workspace):
    response = client_for(owner).post(reverse("projects:members", args=[workspace.id]), {"username": "nobody", "role": "viewer"})
    assert "There is no user named “nobody”" in response.content.decode()


def test_the_last_admin_cannot_be_demoted(client_for, owner, workspace):
    membership = Membership.objects.get(workspace=workspace, user=owner)
    client_for(owner).post(reverse("projects:member_change_role", args=[workspace.id, membership.id]), {"role": "viewer"})
    membership.refresh_from_db()
    assert membership.role == Role.ADMIN


def test_settings_save_the_project_configuration(client_for, editor, project):
    response = client_for(editor).post(
        reverse("projects:project_settings", args=[project.id]),
        {
            "categories": ["TEST_CATEGORY_TYPE_DRIFT", "TEST_CATEGORY_TYPE_MODEL_PERFORMANCE"],
            "global_test_sensitivity": "TEST_SENSITIVITY_MORE_SENSITIVE",
            "protected_features": "country, age",
            "global_exclude_columns": "id",
            "individual_tests_config": '{"feature_drift": {"severity_thresholds": [0.1, 0.3]}}',
        },
    )
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.stress_test_categories == ["TEST_CATEGORY_TYPE_DRIFT", "TEST_CATEGORY_TYPE_MODEL_PERFORMANCE"]
    assert project.test_suite_config["protected_features"] == ["country", "age"]
    assert project.test_suite_config["individual_tests_config"]["feature_drift"]["severity_thresholds"] == [0.1, 0.3]


@pytest.mark.parametrize(
    "overrides,message",
    [("[1, 2]", "JSON object keyed by test key"), ('{"feature_drift": {"severity_thresholds": [1]}}', "two numbers")],
)
def test_settings_reject_bad_overrides(client_for, editor, project, overrides, message):
    response = client_for(editor).post(
        reverse("projects:project_settings", args=[project.id]),
        {"categories": ["TEST_CATEGORY_TYPE_DRIFT"], "global_test_sensitivity": "TEST_SENSITIVITY_DEFAULT",
         "individual_tests_config": overrides},
    )
    assert response.status_code == 200
    assert message in response.content.decode()


def test_responses_carry_a_content_security_policy(client):
    response = client.get(reverse("login"))
    assert "script-src 'self'" in response["Content-Security-Policy"]


BIAS_WITHOUT_PROTECTED = {"categories": ["TEST_CATEGORY_TYPE_BIAS_AND_FAIRNESS"],
                          "global_test_sensitivity": "TEST_SENSITIVITY_DEFAULT", "protected_features": ""}


def test_settings_refuse_bias_and_fairness_without_protected_features_on_a_tabular_project(client_for, editor, project):
    from projects.models import Dataset

    Dataset.objects.create(project=project, name="transactions", source="path", path="/x.csv",
                           data_params={"label_col": "is_fraud"})
    response = client_for(editor).post(reverse("projects:project_settings", args=[project.id]), BIAS_WITHOUT_PROTECTED)
    assert response.status_code == 200
    assert "Bias and Fairness needs at least one protected feature." in response.content.decode()
    project.refresh_from_db()
    assert "TEST_CATEGORY_TYPE_BIAS_AND_FAIRNESS" not in project.stress_test_categories


@pytest.mark.parametrize("text_project", ["dataset", "run", "nli"])
def test_settings_allow_bias_and_fairness_without_protected_features_on_a_text_project(client_for, editor, owner,
                                                                                       project, text_project):
    from projects.models import Dataset
    from stresstests.models import StressTestRun

    if text_project == "dataset":
        Dataset.objects.create(project=project, name="reviews", source="path", path="/x.jsonl",
                               data_params={"label_col": "label", "text_features": ["text"]})
    elif text_project == "run":   # the wizard names the text columns on the run
        StressTestRun.objects.create(project=project, created_by=owner,
                                     config={"data_params": {"text_features": ["text"]}})
    else:
        project.model_task = "MODEL_TASK_NATURAL_LANGUAGE_INFERENCE"
        project.save()
    client = client_for(editor)
    assert "Optional for text" in client.get(reverse("projects:project_settings", args=[project.id])).content.decode()
    response = client.post(reverse("projects:project_settings", args=[project.id]), BIAS_WITHOUT_PROTECTED)
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.stress_test_categories == ["TEST_CATEGORY_TYPE_BIAS_AND_FAIRNESS"]
    assert project.test_suite_config["protected_features"] == []
