// EduIOC web UI: the only script. Pages work without it; it adds live refresh of
// elements inside [data-poll] (text of [data-k], class of [data-c]), a print button,
// a busy label on long form submissions, instant switching of the records search kind,
// and the import upload with a progress bar (form[data-json]). Written for this project.
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
  // Import by XHR: upload progress, then an indeterminate bar while the server parses
  // and commits, then the server-rendered result box (same markup as without script).
  function importForm(f) {
    var file = f.querySelector("input[type=file][name=file]");
    var box = document.getElementById("import-result");
    var wrap = f.querySelector(".progress");
    var bar = wrap && wrap.querySelector("progress");
    var status = wrap && wrap.querySelector("[role=status]");
    var button = f.querySelector("button[type=submit]");
    if (!file || !box || !wrap || !bar || !status || !button) { return; }
    var label = button.textContent;
    function say(kind, msg, link) {
      box.textContent = "";
      var p = document.createElement("p");
      p.className = kind;
      p.setAttribute("role", "alert");
      p.textContent = msg;
      if (link) {
        var a = document.createElement("a");
        a.href = link.href;
        a.textContent = link.text;
        p.appendChild(document.createTextNode(" "));
        p.appendChild(a);
      }
      box.appendChild(p);
    }
    function done() {
      wrap.hidden = true;
      button.disabled = false;
      button.textContent = label;
      f.removeAttribute("aria-busy");
    }
    f.addEventListener("submit", function (ev) {
      if (!window.FormData || !window.XMLHttpRequest) { return; }
      ev.preventDefault();
      if (button.disabled) { return; }
      var chosen = file.files && file.files[0];
      var max = parseInt(f.getAttribute("data-max-bytes"), 10) || 0;
      if (chosen && max && chosen.size > max) {
        say("error", f.getAttribute("data-toolarge"));
        return;
      }
      var data = new FormData(f);
      var xhr = new XMLHttpRequest();
      xhr.open("POST", f.getAttribute("data-json"));
      xhr.setRequestHeader("Accept", "application/json");
      xhr.responseType = "text";
      box.textContent = "";
      wrap.hidden = false;
      bar.max = 100;
      bar.value = 0;
      status.textContent = f.getAttribute("data-uploading") + " 0%";
      button.disabled = true;
      button.textContent = f.getAttribute("data-busy") || label;
      f.setAttribute("aria-busy", "true");
      xhr.upload.addEventListener("progress", function (e) {
        if (!e.lengthComputable) { return; }
        var pct = Math.floor(e.loaded * 100 / e.total);
        bar.value = pct;
        status.textContent = f.getAttribute("data-uploading") + " " + pct + "%";
      });
      xhr.upload.addEventListener("load", function () {
        bar.removeAttribute("value");
        status.textContent = f.getAttribute("data-processing");
      });
      xhr.addEventListener("load", function () {
        done();
        var body = null;
        try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
        if (xhr.status === 401) {
          say("error", f.getAttribute("data-expired"),
            { href: "/login?next=%2Fdata", text: f.getAttribute("data-login") });
        } else if (xhr.status === 413) {
          say("error", f.getAttribute("data-toolarge"));
        } else if (body && typeof body.html === "string") {
          box.innerHTML = body.html;
          if (body.ok) { file.value = ""; }
        } else {
          say("error", f.getAttribute("data-failed") + " (HTTP " + xhr.status + ")");
        }
        box.scrollIntoView({ block: "nearest" });
      });
      xhr.addEventListener("error", function () { done(); say("error", f.getAttribute("data-failed")); });
      xhr.addEventListener("timeout", function () { done(); say("error", f.getAttribute("data-failed")); });
      xhr.addEventListener("abort", function () { done(); say("error", f.getAttribute("data-failed")); });
      xhr.send(data);
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-json]").forEach(importForm);
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
    document.querySelectorAll("form[data-busy]:not([data-json])").forEach(function (f) {
      f.addEventListener("submit", function () {
        var b = f.querySelector("button[type=submit]");
        if (b) { b.disabled = true; b.textContent = f.getAttribute("data-busy"); }
      });
    });
  });
})();
