// EduIOC web UI: the only script. Pages work without it; it adds live refresh of
// elements inside [data-poll] (text of [data-k], class of [data-c]), a print button,
// a busy label on long form submissions and instant switching of the records search
// kind. Written for this project.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  function apply(root, data) {
    var text = data.text || {}, cls = data["class"] || {};
    root.querySelectorAll("[data-k]").forEach(function (el) {
      var v = text[el.getAttribute("data-k")];
      if (typeof v === "string" && el.textContent !== v) { el.textContent = v; }
    });
    root.querySelectorAll("[data-c]").forEach(function (el) {
      var v = cls[el.getAttribute("data-c")];
      if (typeof v === "string") { el.className = v; }
    });
  }
  function poll(root) {
    var url = root.getAttribute("data-poll");
    var tick = function () {
      if (document.hidden) { return; }
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (d) { if (d) { apply(root, d); } })
        .catch(function () {});
    };
    setInterval(tick, 5000);
  }
  document.addEventListener("DOMContentLoaded", function () {
    // Records search: choosing students or staff searches again at once.
    document.querySelectorAll("form.search input[name=kind]").forEach(function (r) {
      r.addEventListener("change", function () {
        var q = r.form.querySelector("input[name=q]");
        if (q && q.value.trim() !== "") { r.form.submit(); }
      });
    });
    document.querySelectorAll("[data-poll]").forEach(poll);
    document.querySelectorAll("[data-print]").forEach(function (b) {
      b.addEventListener("click", function () { window.print(); });
    });
    document.querySelectorAll("form[data-busy]").forEach(function (f) {
      f.addEventListener("submit", function () {
        var b = f.querySelector("button[type=submit]");
        if (b) { b.disabled = true; b.textContent = f.getAttribute("data-busy"); }
      });
    });
  });
})();
