// Create Stress Test wizard: predictions toggle, drag-and-drop file fields, upload progress.
// Every step works without this file: the predictions fields stay visible and files are picked with Select File.
(function () {
  "use strict";

  function syncPredictions(root) {
    root.querySelectorAll("fieldset[data-predictions-for]").forEach(function (fieldset) {
      var toggle = document.getElementById(fieldset.dataset.predictionsFor);
      if (!toggle) return;
      var update = function () { fieldset.hidden = !toggle.checked; };
      if (!toggle.dataset.wizardBound) {
        toggle.addEventListener("change", update);
        toggle.dataset.wizardBound = "1";
      }
      update();
    });
  }

  function showFileNames(input) {
    var zone = input.closest("[data-dropzone]");
    var output = zone && zone.querySelector(".file-names");
    if (!output) return;
    output.textContent = Array.prototype.map.call(input.files, function (file) { return file.name; }).join(", ");
  }

  function bindDropzones(root) {
    root.querySelectorAll("[data-dropzone]").forEach(function (zone) {
      if (zone.dataset.wizardBound) return;
      zone.dataset.wizardBound = "1";
      var input = zone.querySelector("input[type=file]");
      if (!input) return;
      input.addEventListener("change", function () { showFileNames(input); });
      zone.addEventListener("dragover", function (event) {
        event.preventDefault();
        zone.classList.add("dragging");
      });
      zone.addEventListener("dragleave", function () { zone.classList.remove("dragging"); });
      zone.addEventListener("drop", function (event) {
        event.preventDefault();
        zone.classList.remove("dragging");
        if (!event.dataTransfer || !event.dataTransfer.files.length) return;
        input.files = event.dataTransfer.files;
        input.dispatchEvent(new Event("change", { bubbles: true }));
      });
    });
  }

  // Registered models and datasets: the search box hides the rows whose text does not contain what is typed.
  function bindRowFilters(root) {
    root.querySelectorAll("input[data-filter-rows]").forEach(function (input) {
      if (input.dataset.wizardBound) return;
      input.dataset.wizardBound = "1";
      input.addEventListener("input", function () {
        var body = document.getElementById(input.dataset.filterRows);
        if (!body) return;
        var wanted = input.value.trim().toLowerCase();
        Array.prototype.forEach.call(body.rows, function (row) {
          row.hidden = wanted !== "" && row.textContent.toLowerCase().indexOf(wanted) === -1;
        });
      });
    });
  }

  function init(root) {
    syncPredictions(root);
    bindDropzones(root);
    bindRowFilters(root);
  }

  // Keyboard and screen-reader users land on the step's title after each Next; an invalid step that htmx swapped
  // back in (its focused Next button is gone) puts the focus on the first field to fix.
  function focusStep(root) {
    if (root === document) {
      var heading = document.getElementById("step-heading");
      if (heading && !document.querySelector("[autofocus]")) heading.focus();
      return;
    }
    if (root.id !== "step-form") return;
    var target = root.querySelector(".has-error input:not([type=hidden]), .has-error select, .has-error textarea")
      || root.querySelector("button[type=submit]");
    if (target) target.focus();
  }

  // htmx reports upload progress on the element that sent the request (the step's form).
  document.addEventListener("htmx:xhr:progress", function (event) {
    var form = event.target.closest ? event.target.closest("form") : null;
    var box = form && form.querySelector(".upload-progress");
    if (!box || !event.detail.lengthComputable) return;
    var hasFiles = Array.prototype.some.call(form.querySelectorAll("input[type=file]"), function (input) {
      return input.files && input.files.length;
    });
    if (!hasFiles) return;
    box.hidden = false;
    var bar = box.querySelector("progress");
    var percent = Math.round((event.detail.loaded / event.detail.total) * 100);
    bar.value = percent;
    bar.textContent = percent + "%";
  });

  document.addEventListener("htmx:load", function (event) { init(event.detail.elt); focusStep(event.detail.elt); });
  document.addEventListener("DOMContentLoaded", function () { init(document); focusStep(document); });
})();
