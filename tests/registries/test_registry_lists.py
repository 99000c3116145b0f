"""The Datasets and Models lists (issue 14, item 11): id and path columns, search, filters and sorting, all from the
query string, so a filtered list is a link."""
from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from projects.registries import services as registry
from projects.models import Dataset, ModelSource, ValidityStatus

from .conftest import csv_bytes, fraud_frame

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_queue(monkeypatch):
    monkeypatch.setattr(registry, "_queue", lambda name, object_id: None)


@pytest.fixture
def datasets(project, owner):
    def upload(name: str) -> Dataset:
        return registry.dataset_register(user=owner, project=project, name=name, source="upload",
                                         data_params={"label_col": "is_fraud"}, validate=False,
                                         file=SimpleUploadedFile(f"{name}.csv", csv_bytes(fraud_frame(12))))

    rows = [upload("reference 2024"), upload("evaluation march"), upload("evaluation april")]
    Dataset.objects.filter(id=rows[1].id).update(validity_status=ValidityStatus.INVALID)
    return rows


def _names(page: str) -> list[str]:
    return re.findall(r'<td><a href="/projects/[^"]+/datasets/[^"]+/">([^<]+)</a></td>', page)


def _get(client, project, **query) -> str:
    response = client.get(reverse("projects:dataset_list", args=[project.id]), query)
    assert response.status_code == 200
    return response.content.decode()


def test_each_dataset_shows_its_id_and_path(client_for, member, project, datasets):
    page = _get(client_for(member), project)
    for dataset in datasets:
        # The start of the id, and the whole id for the Copy button (searching by the start finds the dataset).
        assert f'<code class="id" title="{dataset.id}">{str(dataset.id)[:8]}…</code>' in page
        assert f'<span hidden id="dataset-id-{dataset.id}">{dataset.id}</span>' in page
        assert f'<code class="path" title="{dataset.file.name}">{dataset.file.name}</code>' in page
    assert "3 datasets." in page


def test_search_matches_name_id_and_path(client_for, member, project, datasets):
    client = client_for(member)
    assert sorted(_names(_get(client, project, q="EVALUATION"))) == ["evaluation april", "evaluation march"]
    assert _names(_get(client, project, q=str(datasets[0].id)[:8])) == ["reference 2024"]
    assert _names(_get(client, project, q=datasets[2].file.name.rsplit("/", 1)[1])) == ["evaluation april"]
    page = _get(client, project, q="nothing like this")
    assert _names(page) == [] and "No dataset matches these filters." in page and "0 of 3 datasets match." in page


def test_filters_by_status_and_source_and_sorts_by_name_both_ways(client_for, member, project, datasets):
    client = client_for(member)
    assert _names(_get(client, project, status=ValidityStatus.INVALID)) == ["evaluation march"]
    assert _names(_get(client, project, source="path")) == []
    assert _names(_get(client, project, sort="name")) == ["evaluation april", "evaluation march", "reference 2024"]
    assert _names(_get(client, project, sort="-name")) == ["reference 2024", "evaluation march", "evaluation april"]
    assert _names(_get(client, project)) == ["evaluation april", "evaluation march", "reference 2024"]  # newest first


def test_a_sortable_header_links_to_the_other_order_and_keeps_the_filters(client_for, member, project, datasets):
    page = _get(client_for(member), project, q="evaluation", sort="name")
    header = re.search(r'<th scope="col" aria-sort="(\w+)"><a class="sort-link" href="\?([^"]+)">Dataset', page)
    assert header.group(1) == "ascending" and header.group(2) == "q=evaluation&amp;sort=-name"
    created = re.search(r'aria-sort="(\w+)"><a class="sort-link" href="\?([^"]+)">Registered Date', page)
    assert created.group(1) == "none" and created.group(2) == "q=evaluation&amp;sort=-created"


def test_bad_query_values_show_the_whole_list_instead_of_an_error(client_for, member, project, datasets):
    assert len(_names(_get(client_for(member), project, sort="password", status="nope"))) == 3


def test_models_list_searches_filters_and_shows_ids_and_paths(client_for, member, owner, project):
    scores = registry.model_register(user=owner, project=project, name="scores", tags=[], source=ModelSource.NONE)
    remote = registry.model_register(user=owner, project=project, name="remote", tags=[], source=ModelSource.NONE)
    type(remote).objects.filter(id=remote.id).update(source=ModelSource.PATH, path="s3://models/fraud/model.py")
    client = client_for(member)
    url = reverse("projects:model_list", args=[project.id])
    page = client.get(url).content.decode()
    assert f'<span hidden id="model-id-{scores.id}">{scores.id}</span>' in page
    assert '<code class="path" title="s3://models/fraud/model.py">s3://models/fraud/model.py</code>' in page
    found = client.get(url, {"q": "s3://models"}).content.decode()
    assert "remote</a>" in found and "scores</a>" not in found and "1 of 2 models matches." in found
    assert "scores</a>" in client.get(url, {"source": ModelSource.NONE}).content.decode()


def test_the_filtered_list_keeps_its_filters_while_it_polls_a_pending_row(client_for, member, project, datasets):
    page = _get(client_for(member), project, q="evaluation")
    assert 'hx-get="/projects/' in page and '/datasets/?q=evaluation" hx-trigger="every 3s"' in page
