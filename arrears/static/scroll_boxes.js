/* A scrolling box (the household's statement, oldest period first) opens at its first
   row that matters — for the statement, the oldest period still owing — instead of at
   paid months: the box names the rows by the selector in its data-scroll-to. */
(function () {
  "use strict";
  document.querySelectorAll("[data-scroll-to]").forEach(function (box) {
    var row = box.querySelector(box.getAttribute("data-scroll-to"));
    if (!row) {
      return;
    }
    var head = box.querySelector("thead");
    box.scrollTop = Math.max(0, row.offsetTop - (head ? head.offsetHeight : 0));
  });
})();
