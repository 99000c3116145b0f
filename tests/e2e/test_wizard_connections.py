"""The wizard's *from an online registry* and *from a connection* paths, end to end in a browser with a real worker.

An admin adds a SQL-database integration (a throwaway PostgreSQL database) and a model registry (moto's S3 server,
with IAM-checked keys) on the Integrations page; then the seed's steps: Create Stress Test → Custom → a model from the
registry → the reference and the evaluation from the connection's `transactions` table, the evaluation with predictions
from its `model_scores` table → the run finishes on the worker and its summary is shown.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_wizard import (
    RUN_TIMEOUT_MS,
    choose_custom,
    choose_source,
    next_step,
    open_wizard,
    watch_run_to_the_end,
)

# Shared registry fixtures (moto S3 server, IAM keys, the throwaway PostgreSQL database), imported, not copied.
from tests.registries.conftest import (  # noqa: F401 (fixtures)
    SOURCE_PG,
    model_files,
    put_objects,
    s3_bucket,
    s3_endpoint,
    s3_keys,
    source_pg_database,
)

pytestmark = [pytest.mark.e2e, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

expect.set_options(timeout=20_000)
REGISTRY_ROOT = "registry"


@pytest.fixture(autouse=True)
def local_servers_allowed(allow_local_outbound):
    """moto's S3 and PostgreSQL are on loopback: allowed explicitly (before the worker starts, so it inherits it)."""


@pytest.fixture
def model_registry(s3_endpoint, s3_bucket, s3_keys, model_files) -> dict:  # noqa: F811 (fixtures)
    """A bucket holding a model version (a model.py and its artifact), readable only with the IAM keys (moto checks
    signatures). models:/fraud/1 resolves to <artifact_root>/fraud/1/."""
    key_id, secret = s3_keys
    objects = {f"{REGISTRY_ROOT}/fraud/1/{name}": content for name, content in model_files.items()}
    put_objects(s3_endpoint, s3_bucket, objects, credentials=s3_keys)
    return {"endpoint": s3_endpoint, "artifact_root": f"s3://{s3_bucket}/{REGISTRY_ROOT}", "key_id": key_id,
            "secret": secret}


def add_integration(page: Page, kind: str, name: str, fields: dict[str, str], *, database: str = "") -> None:
    """Fills the Integrations page's form for one type, as a workspace admin does."""
    page.get_by_role("link", name=f"Add {kind}").click()
    expect(page.get_by_role("heading", name=f"Add {kind} integration")).to_be_visible()
    page.get_by_label("Name", exact=True).fill(name)
    if database:  # the SQL form has a "Database" drop-down (the dialect) and a "Database" name box
        page.get_by_role("combobox", name="Database").select_option(label="PostgreSQL")
        page.get_by_role("textbox", name="Database").fill(database)
    for label, value in fields.items():
        page.get_by_label(label, exact=True).fill(value)
    page.get_by_role("button", name="Add integration").click()
    expect(page.get_by_role("heading", name="Integrations")).to_be_visible()
    row = page.get_by_role("row").filter(has_text=name)
    expect(row.get_by_role("cell", name="Configured", exact=True)).to_be_visible()


def choose_only(page: Page, categories: list[str]) -> None:
    """Custom with exactly these risk types (the project's own categories come pre-checked)."""
    choose_custom(page, [])
    for box in page.locator("input[name=categories]").all():
        box.uncheck()
    for category in categories:
        page.get_by_label(category, exact=True).check()


def fill_connection(page: Page, table: str, *, predictions_table: str = "") -> None:
    choose_source(page, "From a connection")
    page.get_by_label("Connection name", exact=True).fill("warehouse")
    page.get_by_label("Table name", exact=True).fill(table)
    page.get_by_label("Timestamp column", exact=True).fill("ts")
    page.get_by_label("Label column", exact=True).fill("is_fraud")
    if predictions_table:
        page.get_by_label("Predictions (optional)").check()
        page.get_by_label("Predictions connection name").fill("warehouse")
        page.get_by_label("Predictions table name").fill(predictions_table)
        page.get_by_label("Predictions timestamp column (optional)").fill("ts")
        page.get_by_label("Prediction column", exact=True).fill("score")


def test_a_registry_model_and_connection_tables_run_through_the_wizard(
    sign_in, celery_worker_process, owner, project, source_pg_database, model_registry  # noqa: F811 (fixtures)
):
    page = sign_in(owner)
    page.get_by_role("link", name="Acme").click()

    # The admin adds both integrations in the browser; secrets are typed once, stored encrypted, never shown again.
    page.get_by_role("link", name="Integrations").click()
    add_integration(page, "SQL database", "warehouse", {
        "Host": SOURCE_PG["host"], "Port": str(SOURCE_PG["port"]), "Username": SOURCE_PG["user"],
        "Password": "pg-password-never-shown-42",  # loopback PostgreSQL trusts the user; the field is still secret
    }, database=source_pg_database)
    add_integration(page, "Model registry", "model-hub", {
        "Artifact root": model_registry["artifact_root"], "Region": "us-east-1",
        "Endpoint URL": model_registry["endpoint"], "Access key ID": model_registry["key_id"],
        "Secret access key": model_registry["secret"],
    })
    expect(page.locator("body")).not_to_contain_text(model_registry["secret"])

    # The seed's steps: workspace → project → Stress Testing → Create Stress Test.
    page.get_by_role("link", name="Acme").click()
    page.get_by_role("link", name="Fraud").click()
    open_wizard(page)
    choose_only(page, ["Model Performance", "Drift"])
    next_step(page, "Model")

    # From an online registry: registry name, URI or path, registry secret.
    choose_source(page, "From an online registry")
    page.get_by_label("Registry name").fill("model-hub")
    page.get_by_label("URI or path").fill("models:/fraud/1")
    page.get_by_label("Model name").fill("fraud-scorer")
    page.get_by_label("Tags").fill("registry")
    page.get_by_label("Registry secret").fill("not-the-registry-secret")
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("alert")).to_have_text("That is not the secret stored for registry “model-hub”.")
    expect(page.get_by_label("Registry secret")).to_have_value("")  # a typed secret is never sent back
    page.get_by_label("Registry secret").fill(model_registry["secret"])
    next_step(page, "Reference Dataset")

    # From a connection: the reference table, then the evaluation table with predictions from another table.
    fill_connection(page, "transactions")
    next_step(page, "Evaluation Dataset")
    fill_connection(page, "transactions", predictions_table="model_scores")
    page.get_by_role("button", name="Next").click()

    # The run page: live progress until the worker finishes, then the summary.
    expect(page.get_by_role("heading", name=re.compile("^Status:"))).to_be_visible()
    facts = page.locator("dl.facts")
    expect(facts).to_contain_text("fraud-scorer")
    expect(facts).to_contain_text("transactions (warehouse) 2 (with predictions)")
    watch_run_to_the_end(page)
    status = page.locator("#run-status")
    expect(page.get_by_role("heading", name="Status: Succeeded")).to_be_visible(timeout=RUN_TIMEOUT_MS)
    expect(status.get_by_role("cell", name="Model Performance")).to_be_visible()
    expect(status.get_by_role("cell", name="Drift")).to_be_visible()
    # Known answer: reference and evaluation are the same table, so no feature drifts.
    expect(status.get_by_role("row").filter(has_text="Drift")).to_contain_text("Pass")
    expect(status.locator(".severity-counts")).to_contain_text(re.compile(r"[1-9]\d* Pass"))
