// Selects the whole value of an [data-select-on-focus] field when it gets focus, so a new key is
// copied whole (Django admin's "key created" page); a file, as the Content-Security-Policy wants.
document.querySelectorAll("[data-select-on-focus]").forEach(function (field) {
  field.addEventListener("focus", function () { field.select(); });
});
