"""A project edits the word lists of the text bias swaps in its Settings (individual_tests_config), and its runs'
engine config hands them to the tests."""
from __future__ import annotations

import json

import pytest

from stresstests import services
from stresstests.run_config import parse_run_config
from stresstests.engine.base import REGISTRY
from tests.stresstests.test_project_settings import save_settings

pytestmark = pytest.mark.django_db


def test_a_projects_own_name_lists_reach_the_swap_test(client_for, editor, project, complete_draft):
    lists = {"text_swap_maj_name_to_min_name": {"source": ["Emily", "Connor"], "target": ["Aroha", "Tane"],
                                                "case_invariant": False}}
    response = save_settings(client_for(editor), project, categories=["TEST_CATEGORY_TYPE_BIAS_AND_FAIRNESS"],
                             protected_features="city", individual_tests_config=json.dumps(lists))
    assert response.status_code == 302
    complete_draft.config_mode = "project"
    complete_draft.project.refresh_from_db()
    config, _ = parse_run_config(services.effective_test_run_config(complete_draft))
    test = REGISTRY["text_swap_maj_name_to_min_name"]
    params = config.params_for(test.key, test.default_params)
    assert params["source"] == ["Emily", "Connor"] and params["target"] == ["Aroha", "Tane"]
    assert params["case_invariant"] is False and params["sample_size"] == 20


def test_settings_refuse_a_word_list_setting_the_swap_test_does_not_have(client_for, editor, project):
    response = save_settings(client_for(editor), project, individual_tests_config=json.dumps(
        {"text_swap_masc_to_fem": {"sources": ["he"]}}))
    assert response.status_code == 200
    assert "“text_swap_masc_to_fem” has no setting sources; its settings are" in response.content.decode()
