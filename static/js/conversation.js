// Conversation page: the Copy button puts the answer on the clipboard, then its form records the copy
// (htmx, or a normal POST without JavaScript). Loaded from our origin: the strict CSP allows no inline script.
(function () {
  "use strict";

  function fallbackCopy(text) {
    // Clipboard API unavailable (non-secure context, old browser): copy through a temporary selection.
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "visually-hidden";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok;
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).then(function () { return true; }, function () { return fallbackCopy(text); });
    }
    return Promise.resolve(fallbackCopy(text));
  }

  // Runs in the click (a user gesture, which the clipboard requires); the form still submits as usual.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-source]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy-source"));
    if (!source) return;
    copyText(source.textContent).then(function (ok) {
      if (!ok) {
        var flash = document.getElementById("flash");
        if (flash) {
          flash.textContent = "Your browser did not allow copying: select the answer's text and copy it yourself.";
          flash.hidden = false;
        }
      }
    });
  });
})();
