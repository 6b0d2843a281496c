/* KanGrow portal: copy buttons and share links on the enrollment page.
 * [data-copy="ID"] copies the value (or text) of element ID to the clipboard and says so in the
 * button's [data-copy-status] sibling. [data-share-url] reports the copy or share to KanGrow with
 * an HTMX POST (onboarding's "first link shared"); its answer refreshes the progress bar. No
 * inline handlers: this file is loaded with the page's CSP nonce. */
(function () {
  "use strict";

  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "absolute";
    area.style.left = "-9999px";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () { return fallbackCopy(text); });
    }
    return fallbackCopy(text);
  }

  function say(button, message) {
    var status = button.parentNode && button.parentNode.querySelector("[data-copy-status]");
    if (status) { status.textContent = message; }
  }

  function report(element) {
    var url = element.getAttribute("data-share-url");
    if (!url || !window.htmx) { return; }
    window.htmx.ajax("POST", url, { source: element, swap: "none" });
  }

  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    if (!target) { return; }
    var button = target.closest("[data-copy]");
    if (button) {
      var source = document.getElementById(button.getAttribute("data-copy"));
      if (source) {
        var text = ("value" in source ? source.value : source.textContent).trim();
        copyText(text).then(
          function () { say(button, "Copied!"); },
          function () {
            if (source.select) { source.select(); }
            say(button, "Press Ctrl+C to copy.");
          }
        );
      }
    }
    var sharer = target.closest("[data-share-url]");
    if (sharer) { report(sharer); }
  });
})();
