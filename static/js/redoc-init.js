// Starts Redoc on /api/redoc/ (templates/drf_spectacular/redoc.html) from a file, not an inline
// script: the page's Content-Security-Policy runs none.
(function () {
  "use strict";
  // Redoc's sidebar shows Redocly's logo from their CDN (Redocly/redoc#2108). Keyhouse fetches
  // nothing from outside: that one image gets no address, so the browser neither asks the CDN
  // nor reports a refused request, and Redoc hides the image on its error.
  var REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg";
  var src = Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, "src");
  Object.defineProperty(HTMLImageElement.prototype, "src", {
    configurable: true,
    enumerable: src.enumerable,
    get: src.get,
    set: function (value) { src.set.call(this, value === REDOCLY_LOGO ? "" : value); },
  });

  // This script element carries the page's CSP nonce (browsers hide the attribute, not .nonce);
  // Redoc puts it on the <style> elements it writes, and the policy allows just those. Not on the
  // container: Redoc reads the container's attributes as options, over these ones.
  var container = document.getElementById("redoc-container");
  Redoc.init(container.dataset.specUrl, { nonce: document.currentScript.nonce }, container);
})();
