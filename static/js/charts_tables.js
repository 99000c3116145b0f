// Sortable tables: <table data-sortable> with <th><button class="sort" data-sort-type="number|text"> headers and
// <td data-sort-value>. Buttons are real buttons, so keyboard users sort with Enter or Space; aria-sort tells
// screen readers the order. Without this file the table keeps the report's order (worst first) and the By Category
// filter stays hidden.
(function () {
  "use strict";
  if (window.rimeSortableTables) return;

  function cellValue(row, index, type) {
    const cell = row.cells[index];
    const raw = cell ? (cell.dataset.sortValue ?? cell.textContent.trim()) : "";
    if (type !== "number") return raw.toLowerCase();
    const number = parseFloat(raw);
    return Number.isNaN(number) ? -Infinity : number;
  }

  function sortBy(button) {
    const th = button.closest("th");
    const table = th.closest("table");
    const index = Array.prototype.indexOf.call(th.parentElement.children, th);
    const type = button.dataset.sortType || "text";
    const ascending = th.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("thead th").forEach((other) => other.setAttribute("aria-sort", "none"));
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    const body = table.tBodies[0];
    const rows = Array.from(body.rows);
    rows.sort((a, b) => {
      const x = cellValue(a, index, type);
      const y = cellValue(b, index, type);
      const order = x < y ? -1 : x > y ? 1 : 0;
      return ascending ? order : -order;
    });
    rows.forEach((row) => body.appendChild(row));
  }

  // The By Category filter: rows whose name, key or failing features contain the text and whose severity matches.
  function applyFilter(panel) {
    const text = panel.querySelector("#test-filter-text").value.trim().toLowerCase();
    const severity = panel.querySelector("#test-filter-severity").value;
    const scope = panel.parentElement;
    let shown = 0;
    scope.querySelectorAll("table.tests tbody tr").forEach((row) => {
      const match = (!text || row.dataset.filterText.toLowerCase().includes(text))
        && (!severity || row.dataset.severity === severity);
      row.hidden = !match;
      if (match) shown += 1;
    });
    scope.querySelectorAll("details.category").forEach((category) => {
      const any = category.querySelector("table.tests tbody tr:not([hidden])");
      if (text || severity) category.open = Boolean(any);
    });
    panel.querySelector("[data-test-filter-count]").textContent = text || severity ? `${shown} tests match.` : "";
  }

  function enableFilters(root) {
    root.querySelectorAll("[data-test-filter][hidden]").forEach((panel) => {
      panel.hidden = false;
      panel.addEventListener("input", () => applyFilter(panel));
    });
  }

  document.addEventListener("htmx:afterSettle", (event) => enableFilters(event.target));
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", () => enableFilters(document));
  } else {
    enableFilters(document);
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("table[data-sortable] th button.sort");
    if (button) sortBy(button);
  });
  window.rimeSortableTables = { sortBy };
})();
