"""Issue 14, round 2, item 3: a model whose artifact is missing is told in one sentence naming the file, in the wizard
and in the Models list, with the library's full text behind a <details> disclosure."""
from __future__ import annotations

import pytest
from django.urls import reverse

from projects.templatetags.error_text import missing_file_summary
from stresstests import wizard_checks

from . import data
from .conftest import upload
from .test_wizard_checks import step_url

CATBOOST = ("Importing model.py failed: CatBoostError: catboost/libs/model/model_import_interface.h:19: Model file "
            "doesn't exist: /tmp/model/fraud_model.catb (in _catboost.pyx, line 5799)")


@pytest.mark.parametrize(("message", "name"), [
    (CATBOOST, "fraud_model.catb"),
    ("Importing model.py failed: FileNotFoundError: [Errno 2] No such file or directory: '/tmp/m/weights.json'",
     "weights.json"),
    ("Loading the model failed: FileNotFoundError: [Errno 2] No such file or directory: 'model.joblib'", "model.joblib"),
    ("Importing model.py failed: OSError: [Errno 2] No such file or directory: '/tmp/x/clf.pkl'", "clf.pkl"),
])
def test_the_common_missing_file_shapes_are_summarised_naming_the_file(message, name):
    script = "model.py" if "model.py" in message else "The model"
    assert missing_file_summary(message) == f"{script} needs {name}, which was not uploaded with it: add it to the upload."


def test_other_errors_are_not_summarised():
    assert missing_file_summary("Importing model.py failed: SyntaxError: invalid syntax (model.py, line 1)") == ""


@pytest.mark.django_db
def test_the_wizard_names_the_missing_artifact_and_keeps_the_full_text_behind_details(client_for, owner, draft):
    client = client_for(owner)
    client.post(step_url(draft, "configuration"), {"config_mode": "project", "name": "No artifact"})
    client.post(step_url(draft, "model"), {"source": "upload", "name": "scorer",
                                           "files": [upload("model.py", data.MODEL_PY.encode())]})
    wizard_checks.model_check_execute(draft.id)
    page = client.get(step_url(draft, "model")).content.decode()
    assert "✗ scorer failed its check: model.py needs weights.json, which was not uploaded with it: add it to the " \
           "upload." in page
    details = page[page.index('<details class="error-details">'):]
    assert "No such file or directory" in details[:details.index("</details>")]


@pytest.mark.django_db
def test_the_models_list_summarises_a_missing_artifact(client_for, owner, project, registered_model):
    registered_model.validity_status = "invalid"
    registered_model.validity_message = CATBOOST
    registered_model.save(update_fields=["validity_status", "validity_message"])
    page = client_for(owner).get(reverse("projects:model_list", args=[project.id])).content.decode()
    assert "model.py needs fraud_model.catb, which was not uploaded with it: add it to the upload." in page
    details = page[page.index('<details class="error-details">'):]
    assert "Model file doesn&#x27;t exist: /tmp/model/fraud_model.catb" in details[:details.index("</details>")]
