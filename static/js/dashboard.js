// The dashboard works without this file; it turns the plain pages into dialogs, copies
// keys to the clipboard and renames in place. Text from the page is set with textContent.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function openModal(dialog, opener, focusTarget) {
    dialog.returnFocusTo = opener || document.activeElement;
    dialog.showModal();
    if (focusTarget) focusTarget.focus();
  }

  function restoreFocus(event) {
    if (event.target.open) return;  // the close() that precedes showModal() in showKeyOnce
    var target = event.target.returnFocusTo;
    if (target && document.contains(target)) target.focus();
  }

  function showKeyOnce(dialog) {
    // The response to the POST holds the key; make its history entry the plain list URL,
    // so a reload is a GET that shows the list without it.
    if (dialog.dataset.replaceUrl) history.replaceState(null, "", dialog.dataset.replaceUrl);
    var input = dialog.querySelector("[data-select-all]");
    dialog.close();  // open without JS as a panel; reopened as a modal that traps focus
    openModal(dialog, document.getElementById("main"), input);
    input.select();
    // Closing (Escape or the button) before anything was copied asks once more: the key
    // cannot be shown again. Leaving the page meanwhile asks the browser's question.
    var warned = false;
    function unsaved() { return !dialog.dataset.copied && !warned; }
    function warn(event) {
      if (!unsaved()) return;
      event.preventDefault();
      warned = true;
      var status = document.getElementById("copy-status");
      status.classList.add("unsaved");
      status.textContent = "You have not copied the key, and it cannot be shown again. Copy it, or close again to leave without it.";
      dialog.querySelector("[data-close-shown]").textContent = "Close without copying";
      dialog.querySelector("[data-copy]").focus();
    }
    function leaving(event) {
      if (!dialog.dataset.copied) { event.preventDefault(); event.returnValue = ""; }
    }
    dialog.addEventListener("cancel", warn);
    dialog.querySelector("[data-close-shown]").addEventListener("click", warn);
    dialog.addEventListener("copy", function () { dialog.dataset.copied = "true"; });
    window.addEventListener("beforeunload", leaving);
    dialog.addEventListener("close", function () {
      if (dialog.open) return;
      window.removeEventListener("beforeunload", leaving);
      dialog.remove();  // the key and the snippets that hold it leave the page
    });
  }

  function copy(button) {
    var source = document.getElementById(button.dataset.copy);
    var text = "value" in source ? source.value : source.textContent;
    var status = document.getElementById("copy-status");
    function done() {
      var dialog = button.closest("dialog");
      if (dialog) dialog.dataset.copied = "true";
      button.textContent = "Copied";
      status.classList.remove("unsaved");
      status.textContent = "Copied to the clipboard. Paste it into your app's secret settings now.";
    }
    function fallback() {
      if (source.select) source.select();
      else window.getSelection().selectAllChildren(source);
      if (document.execCommand("copy")) done();
      else status.textContent = "Copying failed: the key is selected, press Ctrl+C (⌘C on a Mac).";
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, fallback);
    } else {
      fallback();
    }
  }

  // Calls /api/v1/me with the new key in the API-Key header, as a script would: no cookie goes
  // along (so the answer is the key's), and the key goes in no URL and no storage.
  function testKey(button) {
    var result = document.getElementById("key-test-result");
    var raw = document.getElementById(button.dataset.testKey).value.trim();
    button.disabled = true;
    result.className = "key-test-result";
    result.textContent = "Calling " + button.dataset.testUrl + "…";
    fetch(button.dataset.testUrl, {headers: {"API-Key": raw, "Accept": "application/json"},
                                   credentials: "omit", cache: "no-store"})
      .then(function (response) {
        return response.json().then(function (body) { return {status: response.status, body: body}; });
      })
      .then(function (answer) {
        var body = answer.body;
        if (answer.status === 200 && body.api_key) {
          result.classList.add("ok");
          result.textContent = answer.status + " OK: the key works. It is “" + body.api_key.name + "” (" +
            body.api_key.mode + ") of " + body.company.name + ", acting as " + body.user.username + ".";
        } else {
          result.classList.add("failed");
          result.textContent = answer.status + " " + (body.title || "") + ": " + (body.detail || "the key was refused.");
        }
      })
      .catch(function () {
        result.classList.add("failed");
        result.textContent = "The test call did not get an answer; check your connection and try again.";
      })
      .then(function () { button.disabled = false; });
  }

  function confirmAction(link) {
    var dialog = document.getElementById("confirm-dialog");
    dialog.querySelector("form").action = link.href || link.form.action;  // a link, or a form's button
    document.getElementById("confirm-title").textContent = link.dataset.confirmTitle;
    document.getElementById("confirm-body").textContent = link.dataset.confirmBody;
    document.getElementById("confirm-submit").textContent = link.dataset.confirmSubmit;
    // Regenerate asks when the current value should stop working; a disabled fieldset sends nothing.
    var grace = document.getElementById("confirm-grace");
    if (grace) {
      var asksGrace = "confirmGrace" in link.dataset;
      grace.hidden = !asksGrace;
      grace.disabled = !asksGrace;
      var now = grace.querySelector("input[value='0']");
      if (now) now.checked = true;
    }
    // Cancel is focused first, so a stray Enter does not revoke a key.
    openModal(dialog, link, dialog.querySelector("[data-close]"));
  }

  function toggleRename(form, editing) {
    var row = form.closest("td");
    var trigger = document.querySelector('[data-rename="' + form.id + '"]');
    var menu = trigger.closest("details");
    form.hidden = !editing;
    row.querySelector(".key-name").hidden = editing;
    // The menu closes while the name is edited and opens again on Cancel, so focus returns
    // to the Rename item the person started from.
    if (menu) menu.open = !editing;
    if (editing) {
      var input = form.querySelector("input[name=name]");
      input.focus();
      input.select();
    } else {
      form.reset();
      trigger.focus();
    }
  }

  document.addEventListener("click", function (event) {
    var target = event.target.closest("[data-dialog], [data-confirm], [data-close], [data-copy], [data-rename], [data-rename-cancel], [data-select-all], [data-test-key]");
    if (!target) return;
    if (target.matches("[data-dialog]")) {
      event.preventDefault();
      var dialog = document.getElementById(target.dataset.dialog);
      openModal(dialog, target, dialog.querySelector("input:not([type=hidden])"));
    } else if (target.matches("[data-confirm]")) {
      event.preventDefault();
      confirmAction(target);
    } else if (target.matches("[data-close]")) {
      target.closest("dialog").close();
    } else if (target.matches("[data-copy]")) {
      copy(target);
    } else if (target.matches("[data-rename]")) {
      event.preventDefault();
      toggleRename(document.getElementById(target.dataset.rename), true);
    } else if (target.matches("[data-rename-cancel]")) {
      toggleRename(target.closest("form"), false);
    } else if (target.matches("[data-test-key]")) {
      testKey(target);
    } else if (target.matches("[data-select-all]")) {
      target.select();
    }
  });

  // One row menu open at a time: opening another, or clicking elsewhere, closes it.
  document.addEventListener("toggle", function (event) {
    if (!event.target.matches || !event.target.matches("details.row-menu") || !event.target.open) return;
    document.querySelectorAll("details.row-menu[open]").forEach(function (menu) {
      if (menu !== event.target) menu.open = false;
    });
  }, true);

  document.addEventListener("keydown", function (event) {
    var menu = event.target.closest && event.target.closest("details.row-menu[open]");
    if (event.key === "Escape" && menu && !document.querySelector("dialog[open]")) {
      event.preventDefault();
      menu.open = false;
      menu.querySelector("summary").focus();
      return;
    }
    var form = event.target.closest && event.target.closest(".rename-form");
    if (event.key === "Escape" && form) {
      event.preventDefault();
      toggleRename(form, false);
    }
  });

  document.addEventListener("change", function (event) {
    if (event.target.name !== "never_expires") return;
    var date = event.target.form.elements.expires_on;
    date.disabled = event.target.checked;
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("dialog").forEach(function (dialog) {
      dialog.addEventListener("close", restoreFocus);
    });
    document.querySelectorAll("[data-copy], [data-test-key]").forEach(function (button) { button.hidden = false; });
    document.querySelectorAll("input[name=never_expires]:checked").forEach(function (box) {
      box.form.elements.expires_on.disabled = true;
    });
    // A create form refused for its input comes back open on the list, with its errors:
    // as the modal it was, focus on the first field to correct.
    var refused = document.querySelector("dialog[data-reopen][open]");
    if (refused) {
      refused.close();
      openModal(refused, document.querySelector("[data-dialog='" + refused.id + "']"),
                refused.querySelector("[aria-invalid=true]") || refused.querySelector("input:not([type=hidden])"));
    }
    var shown = document.querySelector("dialog[data-autoshow][open]");
    if (shown) showKeyOnce(shown);
  });
})();
