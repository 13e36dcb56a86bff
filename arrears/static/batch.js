// The batch page's live progress bar: asks the server for the batch's progress every
// second until it is done or failed, then shows the download link.
(function () {
  var box = document.getElementById("batch-progress");
  if (!box) { return; }
  var bar = box.querySelector("[data-testid=progress-bar]");
  var state = box.querySelector("[data-testid=batch-status]");
  var link = box.querySelector("[data-testid=print-link]");
  function poll() {
    fetch(box.dataset.statusUrl, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) { return response.json(); })
      .then(function (s) {
        var percent = s.total ? Math.round(100 * s.done / s.total) : 0;
        bar.style.width = percent + "%";
        bar.textContent = s.done + " / " + s.total;
        bar.parentNode.setAttribute("aria-valuenow", s.done);
        state.textContent = s.label + (s.error ? " · " + s.error : "");
        if (s.status === "done") {
          bar.classList.remove("progress-bar-striped", "progress-bar-animated");
          link.classList.remove("d-none");
          window.setTimeout(function () { window.location.reload(); }, 500);
        } else if (s.status === "failed") {
          bar.classList.remove("progress-bar-striped", "progress-bar-animated");
          bar.classList.add("bg-danger");
        } else {
          window.setTimeout(poll, 1000);
        }
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  if (!link.classList.contains("d-none")) { return; }
  window.setTimeout(poll, 500);
})();
