/* The household page's forms post to an address ending with #<the form's id>: the page
   sent back with the form's errors opens at the form (a browser keeps the fragment of a
   form's action). When the form went through, the server redirects to the household page
   without a fragment and the browser keeps the form's there too: then drop it and go back
   to the top, where the confirmation is. */
(function () {
  "use strict";
  var id = decodeURIComponent(location.hash.slice(1));
  var target = id && document.getElementById(id);
  if (!target || !target.hasAttribute("data-form-anchor") || !target.getAttribute("action")) {
    return;
  }
  if (new URL(target.getAttribute("action"), location.href).pathname === location.pathname) {
    return; // the form's own address: the page came back with its errors
  }
  history.replaceState(history.state, "", location.pathname + location.search);
  var top = function () { window.scrollTo({top: 0, left: 0, behavior: "instant"}); };
  top();
  window.addEventListener("load", top);
})();
