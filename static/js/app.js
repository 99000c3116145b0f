// Small progressive enhancements; every page works without this file.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (!source || !navigator.clipboard) return;
  navigator.clipboard.writeText(source.textContent.trim()).then(() => {
    const label = button.textContent;
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = label; }, 1500);
  });
});

// Live regions that outlive htmx swaps: the text of every [data-announce="ID"] element is copied into the persistent
// role="status" element #ID, and only when it changed, so a region re-rendered by polling is announced once per change.
function announceChanges(root) {
  const texts = {};
  root.querySelectorAll("[data-announce]").forEach((source) => {
    const words = source.textContent.replace(/\s+/g, " ").trim();
    if (words) (texts[source.dataset.announce] ||= []).push(words);
  });
  Object.entries(texts).forEach(([id, parts]) => {
    const region = document.getElementById(id);
    const message = parts.join(". ");
    if (region && region.textContent !== message) region.textContent = message;
  });
}
document.addEventListener("htmx:afterSettle", () => announceChanges(document));
document.addEventListener("DOMContentLoaded", () => announceChanges(document));

// A notice that is only true for a while (e.g. "was queued") names, in data-retire-when, the element that makes it
// untrue (e.g. the finished run's status); once that element is on the page the notice goes.
function retireNotices() {
  document.querySelectorAll("[data-retire-when]").forEach((notice) => {
    if (document.querySelector(notice.dataset.retireWhen)) notice.remove();
  });
  document.querySelectorAll(".messages").forEach((box) => { if (!box.children.length) box.remove(); });
}
document.addEventListener("htmx:afterSettle", retireNotices);
document.addEventListener("DOMContentLoaded", retireNotices);

// A folder picked with <input webkitdirectory data-relative-paths="FIELD">: browsers send bare file names, so each
// file's path inside the folder goes, in the same order, as JSON into the hidden field FIELD of the same form.
document.addEventListener("change", (event) => {
  const input = event.target.closest && event.target.closest("input[type=file][data-relative-paths]");
  if (!input || !input.form) return;
  const field = input.form.querySelector(`input[type=hidden][name$="${input.dataset.relativePaths}"]`);
  if (field) field.value = JSON.stringify(Array.from(input.files, (file) => file.webkitRelativePath || file.name));
});
