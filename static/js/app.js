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
  // A sentence from the server (HX-Trigger: {"ah:notice": "…"}), e.g. when a stale tab's Remove finds the row
  // already gone (lib/htmx.py): the row leaves the screen and this says why.
  document.addEventListener("ah:notice", function (event) {
    var detail = event.detail || {};
    announce(typeof detail === "string" ? detail : detail.value || "");
  });

  // One rule for every GET (filter forms, previews, polls): an empty field means "not filtered", so it is left
  // out of the URL (no ?q=&category=&user=…), and a form's CSRF token never rides on a GET into URLs and logs.
  function keepParameter(name, value) {
    return name !== "csrfmiddlewaretoken" && !(typeof value === "string" && value === "");
  }
  document.addEventListener("htmx:configRequest", function (event) {
    var detail = event.detail;
    var data = detail.formData;  // htmx 2: the parameters about to be sent (detail.parameters is a view of it)
    if ((detail.verb || "").toLowerCase() !== "get" || !data) return;
    var dropped = new Set();
    data.forEach(function (value, name) { if (!keepParameter(name, value)) dropped.add(name); });
    if (!dropped.size) return;
    var kept = [];
    data.forEach(function (value, name) { if (dropped.has(name) && keepParameter(name, value)) kept.push([name, value]); });
    dropped.forEach(function (name) { data.delete(name); });
    kept.forEach(function (pair) { data.append(pair[0], pair[1]); });
  });
  // The same for a GET form submitted without htmx (or before htmx loaded): empty and token fields are
  // disabled for the moment of the submit, so the browser leaves them out, then enabled again.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented || !(form instanceof HTMLFormElement)) return;
    if ((form.getAttribute("method") || "get").toLowerCase() !== "get") return;
    var off = [];
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.disabled || el.type === "submit" || el.type === "button") return;
      if ((el.type === "checkbox" || el.type === "radio") && !el.checked) return;
      if (!keepParameter(el.name, el.value)) { el.disabled = true; off.push(el); }
    });
    if (off.length) setTimeout(function () { off.forEach(function (el) { el.disabled = false; }); }, 0);
  });

  // Back/forward: htmx restores a page from its history snapshot, whose form controls show the values of an
  // earlier render. Every form that writes its fields into the URL is set back to what the URL says.
  function fillFromUrl(form, params) {
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.type === "hidden" || el.type === "submit" || el.type === "button") return;
      var values = params.getAll(el.name);
      if (el.type === "checkbox" || el.type === "radio") {
        el.checked = values.indexOf(el.value) !== -1 || (!values.length && el.type === "radio" && el.defaultChecked);
      } else if (el.tagName === "SELECT") {
        var matched = false;
        Array.prototype.forEach.call(el.options, function (option) {
          option.selected = values.indexOf(option.value) !== -1;
          matched = matched || option.selected;
        });
        if (!matched && !el.multiple) {
          var blank = Array.prototype.find.call(el.options, function (option) { return option.value === ""; });
          if (blank) blank.selected = true;
          else Array.prototype.forEach.call(el.options, function (option) { option.selected = option.defaultSelected; });
        }
      } else {
        el.value = values.length ? values[0] : "";
      }
    });
  }
  document.addEventListener("htmx:historyRestore", function () {
    var params = new URLSearchParams(window.location.search);
    document.querySelectorAll("[hx-push-url]").forEach(function (el) {
      var form = el.tagName === "FORM" ? el : el.closest("form");
      if (form && (form.getAttribute("method") || "get").toLowerCase() === "get") fillFromUrl(form, params);
    });
  });

  // Narrow screens show tables as stacked rows: each cell is labelled with its column's heading.
  function labelCells(root) {
    root.querySelectorAll("table").forEach(function (table) {
      var heads = table.querySelectorAll("thead th");
      if (!heads.length) return;
      var labels = Array.prototype.map.call(heads, function (th) { return th.textContent.trim(); });
      table.classList.add("stackable");
      table.querySelectorAll("tbody tr").forEach(function (row) {
        Array.prototype.forEach.call(row.children, function (cell, i) {
          if (!cell.hasAttribute("data-label") && !cell.hasAttribute("colspan") && labels[i]) cell.setAttribute("data-label", labels[i]);
        });
      });
    });
  }
  // Filter panels are open beside wide layouts and folded behind their summary button on phones.
  var wide = window.matchMedia("(min-width: 861px)");
  function unfoldPanels(root) {
    root.querySelectorAll("details.filter-panel").forEach(function (panel) {
      if (wide.matches) panel.open = true;
    });
  }
  wide.addEventListener("change", function () { unfoldPanels(document); });
  // A tab strip wider than the screen scrolls sideways: its hidden side fades out (CSS: .tabs.more-before /
  // .more-after) so a phone shows there is more, and the current tab is scrolled into view.
  function markOverflow(strip) {
    var hidden = strip.scrollWidth - strip.clientWidth;
    strip.classList.toggle("more-before", hidden > 1 && strip.scrollLeft > 1);
    strip.classList.toggle("more-after", hidden > 1 && strip.scrollLeft < hidden - 1);
  }
  function watchTabs(root) {
    root.querySelectorAll(".tabs").forEach(function (strip) {
      if (strip.dataset.watched) return markOverflow(strip);
      strip.dataset.watched = "1";
      var current = strip.querySelector('[aria-current="page"]');
      if (current && strip.scrollWidth > strip.clientWidth) {
        strip.scrollLeft = Math.max(0, current.offsetLeft - strip.offsetLeft - (strip.clientWidth - current.offsetWidth) / 2);
      }
      strip.addEventListener("scroll", function () { markOverflow(strip); }, {passive: true});
      markOverflow(strip);
    });
  }
  window.addEventListener("resize", function () { watchTabs(document); });
  function enhance(root) {
    labelCells(root.nodeType === 1 && root.tagName === "TABLE" ? root.parentNode || root : root);
    unfoldPanels(root);
    if (root.querySelectorAll) watchTabs(root);
  }
  document.addEventListener("DOMContentLoaded", function () { enhance(document); });
  document.addEventListener("htmx:load", function (event) {
    var el = event.detail.elt;
    // A swapped row or tbody belongs to a table labelled already: label it through its table.
    enhance(el.closest && el.closest("table") ? el.closest("table").parentNode : el);
  });
})();
