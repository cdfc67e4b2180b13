/* gridpass hub dashboard: live counts and terminal states over server-sent events; no framework, no build step.
   The page names what it shows with data-* attributes; this script only replaces their text or shape. */
(function () {
  "use strict";

  function setText(el, value) {
    var text = String(value);
    if (el.textContent !== text) {
      el.textContent = text;
      el.classList.add("changed");
      window.setTimeout(function () { el.classList.remove("changed"); }, 1200);
    }
  }

  function applyCounts(data) {
    document.querySelectorAll("[data-decision]").forEach(function (el) {
      var site = el.getAttribute("data-site");
      var counts = site === null ? data.total : (data.sites[site] || {});
      setText(el, counts[el.getAttribute("data-decision")] || 0);
    });
    document.querySelectorAll("[data-presence]").forEach(function (el) {
      setText(el, data.presence[el.getAttribute("data-presence")] || 0);
    });
    var devices = data.devices || {};
    Object.keys(devices).forEach(function (id) {
      var key = devices[id];
      var sel = CSS.escape(id);
      document.querySelectorAll('use[data-device="' + sel + '"]').forEach(function (el) {
        el.setAttribute("href", "#s-" + key);
        el.setAttribute("class", "dot " + key);
        var title = el.querySelector("title");
        if (title) { title.textContent = title.textContent.replace(/: [^:]*$/, ": " + (data.labels[key] || key)); }
      });
      document.querySelectorAll('[data-device-state="' + sel + '"]').forEach(function (el) {
        setText(el, data.labels[key] || key);
      });
    });
  }

  function start() {
    var holder = document.querySelector("[data-live]");
    var status = document.getElementById("live-status");
    if (!holder || !window.EventSource) { return; }
    var source = new EventSource(holder.getAttribute("data-live"));
    source.addEventListener("counts", function (event) {
      var data = JSON.parse(event.data);
      applyCounts(data);
      if (status) { status.textContent = "live · updated " + new Date(data.at * 1000).toLocaleTimeString(); }
      document.body.setAttribute("data-live-updates", String(Number(document.body.getAttribute("data-live-updates") || 0) + 1));
    });
    source.addEventListener("error", function () {
      if (status) { status.textContent = "live updates paused · reconnecting"; }
    });
    window.addEventListener("pagehide", function () { source.close(); });
  }

  function confirmForms() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { start(); confirmForms(); });
}());
