"""Datasets and predictions from real PostgreSQL tables: bounded, sampled, ordered reads; no injection."""
from __future__ import annotations

import pandas as pd
import pytest
from django.core.exceptions import ValidationError

from projects.registries import services as registry, sources, validation
from projects.models import DatasetSource, ValidityStatus

from .conftest import run_engine, uploads

pytestmark = pytest.mark.django_db

PARAMS = {"label_col": "is_fraud", "timestamp_col": "ts"}


def _table_dataset(project, owner, integration, table_name="transactions", name="ref", params=PARAMS):
    dataset = registry.dataset_register(user=owner, project=project, name=name, source=DatasetSource.TABLE,
                                        data_params=params, integration=integration, table_name=table_name,
                                        validate=False)
    return validation.dataset_validate(dataset)


def test_a_dataset_from_a_postgresql_table_is_used_in_a_stress_test(project, owner, make_pg_integration,
                                                                    model_files):
    warehouse = make_pg_integration()
    reference = _table_dataset(project, owner, warehouse)
    evaluation = _table_dataset(project, owner, warehouse, name="eval")
    assert (reference.validity_status, reference.row_count) == (ValidityStatus.VALID, 120)
    assert [c["name"] for c in reference.schema["columns"]] == ["amount", "city", "is_fraud", "ts"]
    model = registry.model_register(user=owner, project=project, name="fraud", tags=[], source="upload",
                                    files=uploads(model_files), validate=False)

    report = run_engine(reference=reference, evaluation=evaluation, model=model)

    assert report["run"]["reference"]["rows"] == 120
    assert report["run"]["model_metrics"]["auc"] == {"reference": 1.0, "evaluation": 1.0}


def test_rows_come_back_in_timestamp_order(project, owner, make_pg_integration):
    frame = sources.load_dataset_frame(_table_dataset(project, owner, make_pg_integration()))
    assert pd.to_datetime(frame["ts"]).is_monotonic_increasing


def test_reads_are_capped_and_sampled_across_the_table(project, owner, make_pg_integration, settings):
    settings.REGISTRY_TABLE_ROW_CAP = 30
    warehouse = make_pg_integration()
    sampled = sources.read_table(warehouse, "transactions", timestamp_col="ts", sample=True)
    first = sources.read_table(warehouse, "transactions", timestamp_col="ts", sample=False)
    assert len(sampled) == len(first) == 30
    # Without sampling: the 30 earliest rows. With sampling: rows from the whole day range, still time-ordered.
    assert pd.to_datetime(first["ts"]).max() == pd.Timestamp("2024-01-02 05:00")
    assert pd.to_datetime(sampled["ts"]).max() > pd.Timestamp("2024-01-02 05:00")
    assert pd.to_datetime(sampled["ts"]).is_monotonic_increasing


INJECTIONS = [
    "transactions; DROP TABLE transactions",
    'transactions" --',
    "transactions WHERE 1=1",
    "public.transactions.x",
    "(SELECT 1)",
    "transactions/**/",
    "",
]


@pytest.mark.parametrize("table_name", INJECTIONS)
def test_injection_in_the_table_name_is_rejected(project, owner, make_pg_integration, table_name):
    warehouse = make_pg_integration()
    with pytest.raises(ValidationError) as caught:
        registry.dataset_register(user=owner, project=project, name="x", source=DatasetSource.TABLE,
                                  data_params={}, integration=warehouse, table_name=table_name, validate=False)
    assert "table_name" in caught.value.message_dict
    with pytest.raises(sources.SourceError):
        sources.read_table(warehouse, table_name)
    assert len(sources.read_table(warehouse, "transactions")) == 120  # nothing was dropped or altered


@pytest.mark.parametrize("column", ["ts; DROP TABLE transactions", 'ts" desc --', "ts, city"])
def test_injection_in_the_timestamp_column_is_rejected(project, owner, make_pg_integration, column):
    warehouse = make_pg_integration()
    with pytest.raises(ValidationError) as caught:
        registry.dataset_register(user=owner, project=project, name="x", source=DatasetSource.TABLE,
                                  data_params={"timestamp_col": column}, integration=warehouse,
                                  table_name="transactions", validate=False)
    assert "timestamp_col" in caught.value.message_dict
    with pytest.raises(sources.SourceError, match="not a plain identifier"):
        sources.read_table(warehouse, "transactions", timestamp_col=column)


def test_well_formed_names_must_exist_in_the_database(project, owner, make_pg_integration):
    warehouse = make_pg_integration()
    missing_table = _table_dataset(project, owner, warehouse, table_name="no_such_table", name="a")
    missing_column = _table_dataset(project, owner, warehouse, name="b",
                                    params={"timestamp_col": "created_at"})
    assert missing_table.validity_status == missing_column.validity_status == ValidityStatus.INVALID
    assert missing_table.validity_message.endswith("Table “no_such_table” does not exist in this database.")
    assert "Timestamp column “created_at” is not a column of transactions" in missing_column.validity_message


def test_the_wizard_registers_a_table_by_integration_name(project, owner, make_pg_integration):
    make_pg_integration("warehouse")
    dataset = registry.dataset_register_from_table(user=owner, project=project, name="ref",
                                                   integration_name="warehouse", table_name="transactions",
                                                   data_params=PARAMS, validate=False)
    assert dataset.integration.name == "warehouse"
    with pytest.raises(ValidationError, match="no SQL database integration named “nope”"):
        registry.dataset_register_from_table(user=owner, project=project, name="x", integration_name="nope",
                                             table_name="transactions", data_params={})
    assert sources.list_tables(dataset.integration) == ["model_scores", "transactions"]


def test_predictions_from_a_table_match_the_dataset_rows(project, owner, make_pg_integration):
    warehouse = make_pg_integration()
    dataset = _table_dataset(project, owner, warehouse)
    model = registry.model_register(user=owner, project=project, name="scores", tags=[], source="none")
    predictions = registry.predictions_register(user=owner, model=model, dataset=dataset, source=DatasetSource.TABLE,
                                                pred_params={"pred_col": "score", "timestamp_col": "ts"},
                                                integration=warehouse, table_name="model_scores", validate=False)
    validation.predictions_validate(predictions)
    assert predictions.validity_status == ValidityStatus.VALID, predictions.validity_message
    assert predictions.validity_message == "120 predictions."
    assert len(sources.load_predictions_frame(predictions)) == 120


def test_a_wrong_database_name_is_reported_without_the_password(project, owner, workspace):
    from projects.registries import integrations

    broken = integrations.integration_create(
        user=owner, workspace=workspace, name="broken", integration_type="INTEGRATION_TYPE_SQL",
        config={"dialect": "postgresql", "host": "127.0.0.1", "database": "no_such_db_xyz", "username": "postgres"},
        secrets={"password": "pg-password-never-shown-42"},
    )
    dataset = _table_dataset(project, owner, broken)
    assert dataset.validity_status == ValidityStatus.INVALID
    assert "no_such_db_xyz" in dataset.validity_message
    assert "pg-password-never-shown-42" not in dataset.validity_message


def test_validation_records_the_table_size_not_the_capped_read(project, owner, make_pg_integration, settings):
    settings.REGISTRY_TABLE_ROW_CAP = 30
    dataset = _table_dataset(project, owner, make_pg_integration())
    assert dataset.row_count == 120
    assert dataset.validity_message == "120 rows (30 read: the row cap), 4 columns."


def test_the_wizard_can_list_a_tables_columns(make_pg_integration):
    warehouse = make_pg_integration()
    assert sources.describe_table(warehouse, "transactions") == ["amount", "city", "is_fraud", "ts"]
    with pytest.raises(sources.SourceError, match="does not exist"):
        sources.describe_table(warehouse, "pg_shadow")


def test_a_seeded_sample_repeats(make_pg_integration, settings):
    settings.REGISTRY_TABLE_ROW_CAP = 20
    warehouse = make_pg_integration()
    first, again = (sources.read_table(warehouse, "transactions", seed=7) for _ in range(2))
    other = sources.read_table(warehouse, "transactions", seed=8)
    assert first.equals(again)
    assert not first.equals(other)
