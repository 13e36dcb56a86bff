// The visit-sheet chooser: another estate chosen shows that estate's buildings at once,
// none ticked yet. Without this script the "show" button does the same in two steps.
(function () {
  "use strict";
  var estate = document.getElementById("estate");
  if (!estate || !estate.form) { return; }
  estate.addEventListener("change", function () {
    window.location.search = "?estate=" + encodeURIComponent(estate.value);
  });
})();
