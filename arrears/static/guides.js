// The call guide beside the contact form: open the guide of the reason chosen in the
// form (the first-call guide when none is chosen) and close the others. Without this
// script every guide can still be opened by hand.
(function () {
  "use strict";
  var select = document.getElementById("contact-reason");
  var panels = document.querySelectorAll("[data-guide-reason]");
  if (!select || !panels.length) { return; }
  function show() {
    var wanted = select.value || "opening";
    panels.forEach(function (panel) {
      panel.open = panel.getAttribute("data-guide-reason") === wanted;
    });
  }
  select.addEventListener("change", show);
  if (select.value) { show(); }
})();
