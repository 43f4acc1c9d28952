// Live activity feed: polls the "N new events" banner and IN_PROGRESS rows, pausing while the tab is hidden.
// Elements opt in with data-poll="<seconds>" and hx-trigger="poll"; this script fires that htmx event, so no
// htmx `every` trigger filter (which would need eval, forbidden by our CSP) is involved.
(function () {
  "use strict";
  var lastPolled = new WeakMap();

  function due(el, now) {
    var seconds = parseFloat(el.getAttribute("data-poll")) || 10;
    var last = lastPolled.get(el);
    if (last === undefined) {
      lastPolled.set(el, now); // first sight: wait one interval, the page was just rendered
      return false;
    }
    return now - last >= seconds * 1000;
  }

  function poll(force) {
    if (document.hidden || !window.htmx) return;
    var now = Date.now();
    document.querySelectorAll("[data-poll]").forEach(function (el) {
      if (el.classList.contains("htmx-request")) return; // the previous poll is still on its way
      if (force || due(el, now)) {
        lastPolled.set(el, now);
        window.htmx.trigger(el, "poll");
      }
    });
  }

  setInterval(function () { poll(false); }, 500);
  // Coming back to the tab catches up at once instead of waiting for the next interval.
  document.addEventListener("visibilitychange", function () {
    document.documentElement.toggleAttribute("data-feed-paused", document.hidden);
    if (!document.hidden) poll(true);
  });
})();
