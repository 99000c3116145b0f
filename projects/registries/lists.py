"""Search, sort and filter of a project's Models and Datasets lists (RIME's registry tables), server-side.

Method: the query string is the state (`?q=&status=&source=&sort=`), read by a plain GET form, so a filtered list is a
link that can be shared, reloaded or bookmarked, and everything works from the keyboard and without JavaScript. Search
matches the name, the id (its first characters are enough) and where the artifact lives (uploaded file, path or URI,
connection table). Sorting is by a fixed set of columns, never by a raw field name from the URL. An invalid value is
ignored (the list shows everything), not an error page: these links are typed and shortened by people.
"""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django import forms
from django.db.models import Q, QuerySet

from projects.models import DatasetSource, ModelSource, ValidityStatus

# sort key in the URL -> (order_by fields, label). The id breaks ties so pages never reorder between requests.
SORTS: dict[str, tuple[tuple[str, ...], str]] = {
    "-created": (("-created_at", "id"), "Newest first"),
    "created": (("created_at", "id"), "Oldest first"),
    "name": (("name", "id"), "Name (A–Z)"),
    "-name": (("-name", "id"), "Name (Z–A)"),
    "status": (("validity_status", "name"), "Registration status"),
}
DEFAULT_SORT = "-created"
# The column headers that sort: the keys each one cycles through, and the aria-sort state each key means.
COLUMN_SORTS: dict[str, dict[str, str]] = {
    "name": {"name": "ascending", "-name": "descending"},
    "created": {"-created": "descending", "created": "ascending"},
    "status": {"status": "ascending"},
}


class RegistryListForm(forms.Form):
    q = forms.CharField(label="Search", required=False, max_length=200,
                        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Name, id or path"}))
    status = forms.ChoiceField(label="Registration status", required=False,
                               choices=[("", "Any status"), *ValidityStatus.choices])
    source = forms.ChoiceField(label="Source", required=False)
    sort = forms.ChoiceField(label="Sort by", required=False,
                             choices=[(key, label) for key, (_, label) in SORTS.items()])

    def __init__(self, *args, sources: list[tuple[str, str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["source"].choices = [("", "Any source"), *sources]


@dataclass
class RegistryList:
    """A filtered, ordered list and what the page needs to show and change the filters."""

    rows: QuerySet
    form: RegistryListForm
    sort: str
    filtered: bool
    unfiltered: QuerySet

    @property
    def total(self) -> int:
        """All rows of the project; counted only when a filter hides some (the plain list shows its own length)."""
        return self.unfiltered.count()

    @property
    def headers(self) -> dict[str, dict]:
        return {column: self.column_sort(column) for column in COLUMN_SORTS}

    def column_sort(self, column: str) -> dict:
        """{"aria_sort", "query"}: the header's state, and the query string its link applies (the next order)."""
        states = COLUMN_SORTS[column]
        keys = list(states)
        following = keys[(keys.index(self.sort) + 1) % len(keys)] if self.sort in states else keys[0]
        return {"aria_sort": states.get(self.sort, "none"), "query": self.query_with(sort=following)}

    def query_with(self, **changes: str) -> str:
        values = {name: self.form.data.get(name, "") for name in self.form.fields} if self.form.is_bound else {}
        values.update(changes)
        return urlencode({name: value for name, value in values.items() if value})


def _search(queryset: QuerySet, text: str, location_fields: tuple[str, ...]) -> QuerySet:
    # The id as typed: Django strips its hyphens where UUIDs are stored as plain hex (SQLite), not on PostgreSQL.
    words = Q(name__icontains=text) | Q(id__istartswith=text)
    for field in location_fields:
        words |= Q(**{f"{field}__icontains": text})
    return queryset.filter(words)


def registry_list(queryset: QuerySet, params, *, sources: list[tuple[str, str]],
                  location_fields: tuple[str, ...]) -> RegistryList:
    """`queryset` (the project's models or datasets) searched, filtered and sorted by the query parameters."""
    unfiltered = queryset
    form = RegistryListForm(params or None, sources=sources)
    sort = DEFAULT_SORT
    filtered = False
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        if data["q"].strip():
            queryset = _search(queryset, data["q"].strip(), location_fields)
        for field in ("status", "source"):
            if data[field]:
                queryset = queryset.filter(**{"validity_status" if field == "status" else "source": data[field]})
        filtered = bool(data["q"].strip() or data["status"] or data["source"])
        sort = data["sort"] or DEFAULT_SORT
    return RegistryList(queryset.order_by(*SORTS[sort][0]), form, sort, filtered, unfiltered)


DATASET_SOURCES = list(DatasetSource.choices)
MODEL_SOURCES = list(ModelSource.choices)
DATASET_LOCATION_FIELDS = ("path", "file", "table_name")
MODEL_LOCATION_FIELDS = ("path", "storage_prefix", "entry_point")


def dataset_location(dataset) -> str:
    """Where a dataset's rows come from, as the list shows it."""
    if dataset.source == DatasetSource.TABLE:
        connection = dataset.integration.name if dataset.integration_id and dataset.integration else "connection"
        return f"{connection}: {dataset.table_name}"
    if dataset.source == DatasetSource.UPLOAD:
        return dataset.file.name if dataset.file else ""
    return dataset.path


def model_location(model) -> str:
    if model.source == ModelSource.UPLOAD:
        return "/".join(part for part in (model.storage_prefix.rstrip("/"), model.entry_point) if part)
    return model.path
