// Site-wide behaviour. Loaded from our origin, so the strict CSP needs no inline script.
(function () {
  "use strict";

  // A failed htmx request (403, 404, 5xx, network) is announced instead of silently doing nothing.
  function announce(text) {
    var region = document.getElementById("flash");
    if (!region) return;
    region.textContent = text;
    region.hidden = false;
    clearTimeout(announce.timer);
    announce.timer = setTimeout(function () { region.hidden = true; }, 8000);
  }
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var reason = {403: "You are not allowed to do that.", 404: "That no longer exists.", 429: "Too many requests: wait a moment."}[xhr.status];
    announce(reason || "Something went wrong (" + xhr.status + "). Reload the page and try again.");
  });
  document.addEventListener("htmx:sendError", function () {
    announce("The server could not be reached. Check your connection and try again.");
  });
})();
