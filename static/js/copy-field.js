// A Copy button for the field named by its data-copy-field (Django admin's "key created" page),
// confirming in the element after it; hidden until this script runs, as the dashboard's are.
document.querySelectorAll("[data-copy-field]").forEach(function (button) {
  var field = document.getElementById(button.dataset.copyField);
  var status = button.nextElementSibling;
  button.hidden = false;
  button.addEventListener("click", function () {
    function done() { button.textContent = "Copied"; status.textContent = "Copied to the clipboard."; }
    function fallback() {
      field.select();
      if (document.execCommand("copy")) done();
      else status.textContent = "Copying failed: the key is selected, press Ctrl+C (⌘C on a Mac).";
    }
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(field.value).then(done, fallback);
    else fallback();
  });
});
