// The key page without this file: every date in UTC, panels opened by hand. With it, the
// expiry form works on the browser's clock (its timezone goes in a hidden field and the
// server converts), shows the same moment in UTC as it is typed, and a link to a panel opens it.
(function () {
  "use strict";
  var zone = (window.Intl && Intl.DateTimeFormat().resolvedOptions().timeZone) || "UTC";

  function pad(n) { return String(n).padStart(2, "0"); }

  // The wall-clock parts of an instant in a zone: {year, month, day, hour, minute}.
  function wall(instant, timeZone) {
    var parts = {};
    new Intl.DateTimeFormat("en-CA", {
      timeZone: timeZone, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    }).formatToParts(instant).forEach(function (part) { parts[part.type] = part.value; });
    return parts;
  }

  function format(parts) {
    return parts.year + "-" + parts.month + "-" + parts.day + " " + parts.hour + ":" + parts.minute;
  }

  // The instant at which the zone's clock shows this wall time (twice corrected, for DST).
  function instantOf(year, month, day, hour, minute) {
    var target = Date.UTC(year, month - 1, day, hour, minute);
    var guess = target;
    for (var i = 0; i < 2; i += 1) {
      var p = wall(new Date(guess), zone);
      var shown = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute);
      guess += target - shown;
    }
    return new Date(guess);
  }

  function describe(form) {
    var output = form.querySelector("[data-expiry-utc]");
    var date = /^(\d{4})-(\d{2})-(\d{2})$/.exec(form.elements.expires_on.value.trim());
    var time = /^(\d{2}):(\d{2})$/.exec(form.elements.expires_time.value.trim());
    var never = form.elements.never_expires && form.elements.never_expires.checked;
    if (never) { output.textContent = "The key will not expire."; return; }
    if (!date || !time) { output.textContent = "Dates are YYYY-MM-DD, times HH:MM on a 24-hour clock."; return; }
    var instant = instantOf(+date[1], +date[2], +date[3], +time[1], +time[2]);
    var utc = format(wall(instant, "UTC")) + " UTC";
    output.textContent = zone === "UTC" ? utc : date[0] + " " + time[0] + " " + zone + " = " + utc;
  }

  function prepareExpiry(form) {
    form.elements.timezone.value = zone;
    form.querySelectorAll("[data-tz-name]").forEach(function (el) { el.textContent = zone; });
    if (form.dataset.utc) {  // the current expiry, given in UTC, shown on the person's clock
      var here = wall(new Date(form.dataset.utc), zone);
      form.elements.expires_on.value = here.year + "-" + here.month + "-" + here.day;
      form.elements.expires_time.value = here.hour + ":" + here.minute;
    }
    var never = form.elements.never_expires;
    function sync() {
      if (never) form.elements.expires_time.disabled = never.checked;
      describe(form);
    }
    form.addEventListener("input", sync);
    form.addEventListener("change", sync);
    sync();
  }

  function openPanel(id) {
    var panel = id && document.getElementById(id);
    if (panel && panel.tagName === "DETAILS") panel.open = true;
    return panel;
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest("[data-open-panel]");
    if (!link) return;
    var panel = openPanel(link.dataset.openPanel);
    if (panel) {
      event.preventDefault();
      history.replaceState(null, "", "#" + panel.id);
      panel.scrollIntoView({ block: "start" });
      panel.querySelector("input:not([type=hidden])").focus();
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-expiry-form]").forEach(prepareExpiry);
    document.querySelectorAll("time[data-local-time]").forEach(function (el) {
      if (zone !== "UTC") el.textContent += " (" + format(wall(new Date(el.dateTime), zone)) + " " + zone + ")";
    });
    openPanel(location.hash.slice(1));
  });
})();
