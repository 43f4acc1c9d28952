// Live pages. Where a page has a live channel (server-sent events through htmx's SSE extension, sse-connect), the
// server pushes; the polls below are the fallback and fire only while no stream is open (WSGI serves no streams,
// a proxy may break them). Elements opt in to polling with data-poll="<seconds>" and hx-trigger="poll"; this
// script fires that htmx event (no htmx `every` trigger filter, which would need eval, forbidden by our CSP).
// Polls pause while the tab is hidden.
(function () {
  "use strict";
  var lastPolled = new WeakMap();

  function streaming() {
    return document.querySelector("[data-live-channel][data-live-open]") !== null;
  }

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
    var live = streaming();
    document.querySelectorAll("[data-poll]").forEach(function (el) {
      if (live) { lastPolled.set(el, now); return; } // pushed: the poll waits a full interval after a stream drops
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

  // Which channels are open (the polls above skip while one is).
  document.addEventListener("htmx:sseOpen", function (event) {
    event.target.setAttribute("data-live-open", "");
  });
  ["htmx:sseError", "htmx:sseClose"].forEach(function (name) {
    document.addEventListener(name, function (event) {
      if (event.target && event.target.removeAttribute) event.target.removeAttribute("data-live-open");
    });
  });

  // After a reconnect the stream replays from its last id and may resend a row the page shows: the fresh copy
  // (just prepended) stays, the older one goes.
  document.addEventListener("htmx:sseMessage", function (event) {
    var list = event.target;
    if (!list || list.getAttribute("sse-swap") !== "new-rows") return;
    var seen = new Set();
    list.querySelectorAll(":scope > tr[id]").forEach(function (row) {
      if (seen.has(row.id)) row.remove();
      else seen.add(row.id);
    });
  });

  // A stream that fails outright (a 502 from the balancer while a node restarts) is replaced by the SSE extension
  // with a new EventSource, which sends no Last-Event-ID: it carries the last id in its URL instead.
  var lastIds = {};
  function withoutResume(url) {
    var parsed = new URL(url, window.location.href);
    parsed.searchParams.delete("last_event_id");
    return parsed.href;
  }
  document.addEventListener("htmx:sseMessage", function (event) {
    var message = event.detail;
    if (message && message.lastEventId && message.target && message.target.url) {
      lastIds[withoutResume(message.target.url)] = message.lastEventId;
    }
  });
  if (window.htmx) {
    window.htmx.createEventSource = function (url) {
      var base = withoutResume(url);
      var resume = new URL(base);
      if (lastIds[base]) resume.searchParams.set("last_event_id", lastIds[base]);
      return new EventSource(resume.href, { withCredentials: true });
    };
  }
})();
