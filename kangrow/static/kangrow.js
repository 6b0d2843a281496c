/*
 * KanGrow referral keeper. Include it on the SaaS app's pages:
 *   <script src="https://kangrow.example/static/kangrow.js" data-cookie-days="60" defer></script>
 * It reads `ref` from the page URL, keeps it in a first-party cookie for data-cookie-days days
 * (default 60), exposes window.KanGrow.ref(), and fills every <input name="kangrow_ref">.
 * Plain JavaScript, no dependencies.
 */
(function (window, document) {
  "use strict";

  var COOKIE = "kangrow_ref";
  var TOKEN = /^[A-Za-z0-9_-]{8,32}$/;
  var script = document.currentScript;
  var days = parseInt((script && script.getAttribute("data-cookie-days")) || "60", 10);
  if (!(days > 0 && days <= 3650)) days = 60;

  function fromUrl() {
    var match = /[?&]ref=([^&#]*)/.exec(window.location.search);
    if (!match) return null;
    var value;
    try { value = decodeURIComponent(match[1].replace(/\+/g, " ")); } catch (e) { return null; }
    return TOKEN.test(value) ? value : null;
  }

  function readCookie() {
    var parts = document.cookie ? document.cookie.split("; ") : [];
    for (var i = 0; i < parts.length; i++) {
      var eq = parts[i].indexOf("=");
      if (parts[i].slice(0, eq) === COOKIE) {
        var value = decodeURIComponent(parts[i].slice(eq + 1));
        return TOKEN.test(value) ? value : null;
      }
    }
    return null;
  }

  function writeCookie(value) {
    var expires = new Date(Date.now() + days * 864e5).toUTCString();
    var secure = window.location.protocol === "https:" ? "; Secure" : "";
    document.cookie = COOKIE + "=" + encodeURIComponent(value) + "; expires=" + expires +
      "; path=/; SameSite=Lax" + secure;
  }

  var fresh = fromUrl();
  if (fresh) writeCookie(fresh);

  function ref() {
    return fresh || readCookie();
  }

  function fill() {
    var value = ref();
    if (!value) return;
    var inputs = document.querySelectorAll('input[name="kangrow_ref"]');
    for (var i = 0; i < inputs.length; i++) {
      if (!inputs[i].value) inputs[i].value = value;
    }
  }

  window.KanGrow = { ref: ref, fill: fill };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", fill);
  } else {
    fill();
  }
})(window, document);
