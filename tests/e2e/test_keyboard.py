"""Keyboard and screen-reader basics in a real browser: the seed's path walked with keys only, result tabs and
sortable tables by keyboard, the run page's live status, and every main page's controls, buttons and charts named."""
from __future__ import annotations

from urllib.parse import urljoin

import pytest
from django.urls import reverse
from playwright.sync_api import Locator, Page, expect

# Shared fixtures, imported rather than copied: finished runs with engine reports (results tests) and wizard drafts
# with a registered model and datasets (wizard tests).
from tests.results.conftest import all_categories_report, calmer_report, finished_run  # noqa: F401 (fixtures)
from tests.stresstests import data
from tests.stresstests.conftest import draft, registered_datasets, registered_model  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
expect.set_options(timeout=20_000)

MAX_TABS = 60  # more Tab presses than any page here needs to reach a control


# --- keyboard helpers -------------------------------------------------------------------------------------------------

FOCUS_RING_JS = """() => {
  const el = document.activeElement;
  // A file input is invisible; its drop zone's Select File label carries the ring (:focus-within).
  const zone = el.matches('input[type=file]') && el.closest('[data-dropzone]');
  const shown = zone ? zone.querySelector('.select-file') : el;
  const style = getComputedStyle(shown);
  const ring = style.boxShadow !== 'none' || (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0);
  return {focusVisible: el.matches(':focus-visible'), ring, html: el.outerHTML.slice(0, 120)};
}"""


def assert_focus_visible(page: Page) -> None:
    state = page.evaluate(FOCUS_RING_JS)
    assert state["focusVisible"] and state["ring"], f"no visible focus indicator on {state['html']}"


def tab_to(page: Page, target: Locator, *, key: str = "Tab") -> None:
    """Presses Tab (or Shift+Tab) until `target` has the focus, then checks that the focus can be seen."""
    expect(target).to_be_attached()
    for _ in range(MAX_TABS):
        page.keyboard.press(key)
        if target.evaluate("el => el === document.activeElement"):
            assert_focus_visible(page)
            return
    raise AssertionError(f"{MAX_TABS} × {key} never reached {target}")


def choose_files_by_keyboard(page: Page, file_input: Locator, files: list, *, key: str | None = "Tab",
                             press: str = "Space") -> None:
    """Reaches a drop zone's Select File control (unless it has the focus already) and opens the file chooser."""
    if key:
        tab_to(page, file_input)
    with page.expect_file_chooser() as chooser:
        page.keyboard.press(press)
    chooser.value.set_files(files)


def press_and_wait_for_swap(page: Page, key: str, url_part: str) -> None:
    with page.expect_response(lambda response: url_part in response.url):
        page.keyboard.press(key)
    page.wait_for_load_state()


# --- page audit: names of controls, buttons and charts ----------------------------------------------------------------

AUDIT_JS = """() => {
  const text = (el) => (el ? el.textContent.replace(/\\s+/g, ' ').trim() : '');
  const attr = (el, name) => (el.getAttribute(name) || '').trim();
  const byIds = (el) => attr(el, 'aria-labelledby').split(/\\s+/).map((id) => text(document.getElementById(id))).join('');
  const name = (el) => attr(el, 'aria-label') || byIds(el) || Array.from(el.labels || []).map(text).join('')
    || attr(el, 'title');
  const show = (el) => el.outerHTML.replace(/\\s+/g, ' ').slice(0, 140);
  const problems = [];
  document.querySelectorAll('input:not([type=hidden]), select, textarea').forEach((el) => {
    if (!name(el)) problems.push('control without a label: ' + show(el));
  });
  document.querySelectorAll('label[for]').forEach((label) => {
    if (!document.getElementById(label.htmlFor)) problems.push('label for a missing control: ' + show(label));
  });
  document.querySelectorAll('button, [role=button], input[type=submit], input[type=button]').forEach((el) => {
    // innerText is what is rendered; a button in a closed <details> renders nothing yet, so its text counts.
    const shown = el.checkVisibility() ? el.innerText : el.textContent;
    const words = (shown || el.value || '').trim() || attr(el, 'aria-label');
    if (!words) problems.push('button without visible text or aria-label: ' + show(el));
  });
  document.querySelectorAll('img, svg, canvas, [role=img]').forEach((el) => {
    if (el.closest('[aria-hidden=true]')) return;
    const alternative = el.tagName === 'IMG' ? el.hasAttribute('alt') : (attr(el, 'aria-label') || byIds(el)
      || (el.tagName === 'svg' && text(el.querySelector('title'))));
    const roleOk = el.tagName !== 'CANVAS' || attr(el, 'role') === 'img';
    if (!alternative || !roleOk) problems.push('image or chart without a text alternative: ' + show(el));
  });
  document.querySelectorAll('progress, [role=progressbar]').forEach((el) => {
    if (!name(el)) problems.push('progress bar without a name: ' + show(el));
  });
  if (/\{[#%]|[#%]\}/.test(document.body.innerText)) problems.push('template syntax shown on the page');
  return problems;
}"""

SUB_PAGE_LINKS = 'nav[aria-label="Source"] a, nav[aria-label$="source"] a, a[href*="/integrations/new/"]'


def audit_pages(page: Page, base_url: str, paths: list[str]) -> dict[str, list[str]]:
    """Visits each page (and the source tabs and 'Add …' forms it links to); returns each page's problems."""
    queue, seen, problems = [urljoin(base_url, path) for path in paths], set(), {}
    while queue:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        response = page.goto(url)
        assert response and response.ok, f"{url} answered {response and response.status}"
        page.wait_for_load_state("networkidle")
        found = page.evaluate(AUDIT_JS)
        if found:
            problems[url] = found
        queue += [urljoin(url, href) for href in page.locator(SUB_PAGE_LINKS).evaluate_all(
            "links => links.map((a) => a.getAttribute('href'))")]
    return problems


# --- fixtures ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def running_run(project, owner):
    """A run a worker is in the middle of (no worker needed: the page only reads the row)."""
    from stresstests.models import RunStatus, StressTestRun

    return StressTestRun.objects.create(project=project, name="Nightly", status=RunStatus.RUNNING, created_by=owner,
                                        progress=0.4, current_test="Numeric Outliers")


@pytest.fixture
def draft_at_evaluation(draft, owner, registered_model, registered_datasets):  # noqa: F811 (fixtures)
    """A draft whose configuration, model and reference dataset are chosen: every step can be opened."""
    from stresstests import services

    services.run_save_configuration(user=owner, run=draft, config_mode="custom", name="Nightly", random_seed=None,
                                    categories=["TEST_CATEGORY_TYPE_DRIFT"])
    services.run_set_model(user=owner, run=draft, model=registered_model)
    services.run_set_dataset(user=owner, run=draft, role="reference", dataset=registered_datasets[0])
    return draft


# --- tests ------------------------------------------------------------------------------------------------------------


def test_sign_in_and_walk_the_wizards_first_steps_with_the_keyboard_only(browser_ready, live_server, page, owner,
                                                                          password, project, tmp_path,
                                                                          celery_worker_process):
    # The worker checks the uploaded model before the wizard moves on to the reference step.
    # Playwright turns file-chooser interception on without waiting for the browser, so on a busy machine a key press
    # could open the chooser before it is intercepted; a listener from the start keeps interception on all along.
    page.on("filechooser", lambda chooser: None)
    # Sign in: the username box has the focus; Tab, Enter.
    page.goto(f"{live_server.url}/accounts/login/")
    expect(page.get_by_label("Username")).to_be_focused()
    page.keyboard.type(owner.username)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type(password)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Workspaces")).to_be_visible()

    # Seed steps 2-5: workspace, project, Stress Testing, Create Stress Test.
    for link in ("Acme", "Fraud"):
        tab_to(page, page.get_by_role("link", name=link, exact=True).first)
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name=link)).to_be_visible()
    tab_to(page, page.get_by_role("navigation", name="Project").get_by_role("link", name="Stress Testing"))
    page.keyboard.press("Enter")
    tab_to(page, page.get_by_role("button", name="Create Stress Test"))
    page.keyboard.press("Enter")

    # Step 1: the step's heading has the focus, so the next Tab reaches the first field.
    expect(page.get_by_role("heading", name="Test Configuration", level=2)).to_be_focused()
    page.keyboard.press("Tab")
    configuration = page.get_by_label("Test Configuration")
    expect(configuration).to_be_focused()
    assert_focus_visible(page)
    with page.expect_response(lambda response: "config_mode=custom" in response.url):
        page.keyboard.press("ArrowDown")  # From Project Configuration → Custom; htmx swaps in the risk types
    drift = page.get_by_label("Drift", exact=True)
    expect(drift).to_be_visible()
    expect(configuration).to_be_focused()  # the swap happened beside the drop-down, not under it
    tab_to(page, drift)
    was_checked = drift.is_checked()
    page.keyboard.press("Space")
    expect(drift).to_be_checked(checked=not was_checked)
    if was_checked:
        page.keyboard.press("Space")
    tab_to(page, page.get_by_role("button", name="Next"))
    page.keyboard.press("Enter")

    # Step 2: Next with nothing chosen stops at the first required field, the model file (the name defaults to the
    # file's name, so it is optional).
    expect(page.get_by_role("heading", name="Model", level=2)).to_be_focused()
    tab_to(page, page.get_by_role("button", name="Next"))
    page.keyboard.press("Enter")
    model_file = page.locator("input[type=file][name=files]")
    expect(model_file).to_be_focused()
    assert model_file.evaluate("input => input.validity.valueMissing")

    # Source tabs swap part of the form; the tab that was pressed keeps the focus.
    registry_tab = page.get_by_role("link", name="From an online registry")
    tab_to(page, registry_tab, key="Shift+Tab")
    press_and_wait_for_swap(page, "Enter", "source=registry")
    expect(page.get_by_label("URI or path")).to_be_visible()
    expect(registry_tab).to_be_focused()
    upload_tab = page.get_by_role("link", name="Upload a model file")
    tab_to(page, upload_tab, key="Shift+Tab")
    press_and_wait_for_swap(page, "Enter", "source=upload")
    expect(upload_tab).to_be_focused()

    # Seed steps 12-13: name and tags typed, the model file chosen with Select File from the keyboard.
    tab_to(page, page.get_by_label("Model name"))
    page.keyboard.type("scorer")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Tags")).to_be_focused()
    page.keyboard.type("demo")
    model_file = page.get_by_label("Model file")
    zone = page.locator("[data-dropzone]").filter(has=model_file)
    notes, model_py, weights = tmp_path / "notes.md", tmp_path / "model.py", tmp_path / "weights.json"
    notes.write_text("no model here")
    model_py.write_text(data.MODEL_PY)
    weights.write_bytes(data.weights_json())
    choose_files_by_keyboard(page, model_file, [notes])
    expect(zone.get_by_role("status")).to_have_text("notes.md")
    tab_to(page, page.get_by_role("button", name="Next"))
    page.keyboard.press("Enter")

    # The server refuses the file; the form comes back (an htmx swap) with the focus on the field to fix.
    expect(zone.get_by_role("alert")).to_contain_text("Choose a model file")
    expect(model_file).to_be_focused()
    assert_focus_visible(page)
    choose_files_by_keyboard(page, model_file, [model_py, weights], key=None)
    expect(zone.get_by_role("status")).to_have_text("model.py, weights.json")
    tab_to(page, page.get_by_role("button", name="Next"))
    page.keyboard.press("Enter")

    # Step 3: the Predictions (optional) toggle opens its fields, which come next in the Tab order.
    expect(page.get_by_role("heading", name="Reference Dataset", level=2)).to_be_focused()
    toggle = page.get_by_label("Predictions (optional)")
    tab_to(page, toggle)
    predictions_file = page.get_by_label("Predictions file")
    expect(predictions_file).to_be_hidden()
    page.keyboard.press("Space")
    expect(toggle).to_be_checked()
    predictions_csv = tmp_path / "predictions.csv"
    predictions_csv.write_bytes(data.predictions_csv(data.frame()))
    choose_files_by_keyboard(page, predictions_file, [predictions_csv], press="Enter")
    expect(page.locator("[data-dropzone]").filter(has=predictions_file).get_by_role("status")).to_have_text(
        "predictions.csv")
    tab_to(page, page.get_by_label("Dataset file"), key="Shift+Tab")


def test_result_tabs_and_table_sorting_with_the_keyboard(sign_in, live_server, owner, finished_run,  # noqa: F811
                                                         all_categories_report):  # noqa: F811
    run = finished_run(all_categories_report)
    page = sign_in(owner)
    page.goto(f"{live_server.url}/stress-tests/{run.id}/results/")
    tabs = page.get_by_role("navigation", name="Result views")
    expect(tabs.get_by_role("link", name="Overview")).to_have_attribute("aria-current", "page")

    category_tab = tabs.get_by_role("link", name="By Category")
    tab_to(page, category_tab)
    press_and_wait_for_swap(page, "Enter", "/results/category/")
    expect(page).to_have_url(f"{live_server.url}/stress-tests/{run.id}/results/category/")
    expect(category_tab).to_have_attribute("aria-current", "page")
    expect(category_tab).to_be_focused()

    # A sortable header is a button inside a th that carries aria-sort; Enter and Space both sort.
    table = page.locator("table.tests").first
    header = table.get_by_role("columnheader", name="Test")
    tab_to(page, header.get_by_role("button", name="Test"))
    page.keyboard.press("Enter")
    expect(header).to_have_attribute("aria-sort", "ascending")
    names = table.locator("tbody tr td:first-child").all_inner_texts()
    assert names == sorted(names, key=str.lower) and len(names) > 1
    page.keyboard.press("Space")
    expect(header).to_have_attribute("aria-sort", "descending")
    assert table.locator("tbody tr td:first-child").all_inner_texts() == sorted(names, key=str.lower, reverse=True)

    feature_tab = tabs.get_by_role("link", name="By Feature")
    tab_to(page, feature_tab, key="Shift+Tab")
    press_and_wait_for_swap(page, "Enter", "/results/feature/")
    expect(page.get_by_role("rowheader", name="amount")).to_be_visible()
    expect(feature_tab).to_be_focused()
    expect(category_tab).not_to_have_attribute("aria-current", "page")


def test_run_page_names_its_progress_bar_and_announces_the_current_test(sign_in, live_server, owner, running_run):
    page = sign_in(owner)
    page.goto(f"{live_server.url}/stress-tests/{running_run.id}/")
    expect(page.get_by_role("progressbar", name="Progress")).to_have_attribute("value", "0.4")
    announcer = page.get_by_role("status").filter(has_text="Current step")
    expect(announcer).to_contain_text("Current step: Numeric Outliers")
    # The live region must outlive the page's polling swaps, or screen readers never hear what changed in it.
    announcer.evaluate("el => { el.dataset.sameNode = 'yes'; }")
    running_run.current_test = "Subset Accuracy"
    running_run.progress = 0.7
    running_run.save(update_fields=["current_test", "progress"])
    expect(announcer).to_contain_text("Current step: Subset Accuracy")
    expect(announcer).to_have_attribute("data-same-node", "yes")
    expect(page.get_by_role("progressbar", name="Progress")).to_have_attribute("value", "0.7")


def test_every_main_page_names_its_controls_buttons_and_charts(  # noqa: PLR0913 (fixtures)
        sign_in, page, live_server, owner, workspace, project, draft_at_evaluation, running_run, finished_run,  # noqa: F811
        all_categories_report, calmer_report, registered_model, registered_datasets):  # noqa: F811
    from projects import services
    from projects.registries.integrations import integration_create
    from projects.models import IntegrationType

    earlier = finished_run(calmer_report, name="Last week", age_minutes=60 * 24 * 7)
    run = finished_run(all_categories_report)
    integration = integration_create(user=owner, workspace=workspace, name="hub", config={}, secrets={},
                                     integration_type=IntegrationType.HUGGINGFACE)
    services.api_key_create(user=owner, workspace=workspace, name="ci")
    signed_out_problems = audit_pages(page, live_server.url, ["/accounts/login/"])
    page = sign_in(owner)
    page.goto(f"{live_server.url}/stress-tests/{run.id}/results/category/")
    test_path = page.locator("table.tests a").first.get_attribute("href")
    page.goto(f"{live_server.url}/stress-tests/{run.id}/results/feature/")
    feature_path = page.locator("table.features th a").first.get_attribute("href")

    ws, pr, wizard_run = workspace.id, project.id, draft_at_evaluation.id
    paths = [
        reverse("projects:workspace_list"), reverse("projects:workspace_detail", args=[ws]),
        reverse("projects:members", args=[ws]), reverse("projects:integration_list", args=[ws]),
        reverse("projects:integration_edit", args=[ws, integration.id]), reverse("projects:api_keys", args=[ws]),
        reverse("projects:project_create", args=[ws]), reverse("projects:project_detail", args=[pr]),
        reverse("projects:project_settings", args=[pr]), reverse("stresstests:run_list", args=[pr]),
        reverse("stresstests:wizard_step", args=[wizard_run, "configuration"]) + "?config_mode=custom",
        *[reverse("stresstests:wizard_step", args=[wizard_run, step]) for step in ("model", "reference", "evaluation")],
        reverse("stresstests:run_detail", args=[running_run.id]), reverse("stresstests:run_detail", args=[run.id]),
        reverse("results:run_results", args=[run.id]), reverse("results:run_tab", args=[run.id, "category"]),
        reverse("results:run_tab", args=[run.id, "feature"]), test_path, feature_path,
        reverse("results:compare", args=[pr]) + f"?base={earlier.id}&head={run.id}",
        reverse("projects:model_list", args=[pr]), reverse("projects:model_register", args=[pr]),
        reverse("projects:model_detail", args=[pr, registered_model.id]), reverse("projects:dataset_list", args=[pr]),
        reverse("projects:dataset_register", args=[pr]), reverse("projects:predictions_register", args=[pr]),
        reverse("projects:dataset_detail", args=[pr, registered_datasets[0].id]),
    ]
    problems = signed_out_problems | audit_pages(page, live_server.url, paths)
    assert not problems, "\n".join(f"{url}\n  " + "\n  ".join(found) for url, found in problems.items())
