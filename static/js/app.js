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
  function enhance(root) {
    labelCells(root.nodeType === 1 && root.tagName === "TABLE" ? root.parentNode || root : root);
    unfoldPanels(root);
  }
  document.addEventListener("DOMContentLoaded", function () { enhance(document); });
  document.addEventListener("htmx:load", function (event) {
    var el = event.detail.elt;
    // A swapped row or tbody belongs to a table labelled already: label it through its table.
    enhance(el.closest && el.closest("table") ? el.closest("table").parentNode : el);
  });
})();
