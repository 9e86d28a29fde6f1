// The owner's autocomplete (select2) names its combobox after the chosen owner only, so with
// none chosen it has no name (axe: aria-input-field-name): name it after the field's label too.
// Select2 builds its widget after this script runs, so the naming waits for it to appear.
(function () {
  function name() {
    var label = document.querySelector("label[for=id_owner]");
    var box = document.querySelector(".field-owner .select2-selection[role=combobox]");
    if (!label || !box) return false;
    label.id = label.id || "id_owner_label";
    var named = (box.getAttribute("aria-labelledby") || "").split(" ").filter(Boolean);
    if (named.indexOf(label.id) < 0) box.setAttribute("aria-labelledby", [label.id].concat(named).join(" "));
    var shown = box.querySelector("[role=textbox]");  // the chosen owner's name, read-only
    if (shown) shown.setAttribute("aria-labelledby", label.id);
    return true;
  }
  document.addEventListener("DOMContentLoaded", function () {
    if (!document.getElementById("id_owner") || name()) return;
    var watch = new MutationObserver(function () { if (name()) watch.disconnect(); });
    watch.observe(document.body, {childList: true, subtree: true});
  });
})();
