/* Workbench pages: live progress of a running report (Server-Sent Events from the JSON API).
 *
 * Served by the app as a static file: the pages' CSP allows scripts from the app only (no inline script) and
 * connections to it. Everything here is an enhancement; without it, a running report page refreshes itself.
 * Text from the server is set with textContent, never parsed as HTML, except the finished page itself, which
 * is fetched from the app and swapped in (its scripts never run: DOMParser does not run them, and the CSP
 * would refuse inline ones anyway).
 */
(function () {
  "use strict";

  var BADGES = {completed: "ok", partial: "warn", failed: "bad", running: "busy", queued: "idle",
                pending: "idle", skipped: "warn", cancelled: "warn"};
  var UNFINISHED = {queued: true, pending: true, running: true};

  function setBadge(el, status) {
    if (!el) { return; }
    el.textContent = status;
    el.className = "badge " + (BADGES[status] || "idle");
  }

  function sectionOf(name) {
    var sections = document.querySelectorAll("section.component[data-component]");
    for (var i = 0; i < sections.length; i++) {
      if (sections[i].getAttribute("data-component") === name) { return sections[i]; }
    }
    return null;
  }

  function updateComponent(c) {
    var section = sectionOf(c.name);
    if (!section) { return; }
    setBadge(section.querySelector("[data-role=status]"), c.status);
    var line = section.querySelector("[data-role=progress]");
    if (!UNFINISHED[c.status]) {
      if (line) { line.hidden = true; }
      return;
    }
    if (!line) {
      line = document.createElement("p");
      line.className = "progress";
      line.setAttribute("data-role", "progress");
      var cells = document.createElement("span");
      cells.setAttribute("data-role", "cells");
      line.appendChild(cells);
      line.appendChild(document.createTextNode(" "));
      line.appendChild(document.createElement("progress"));
      section.querySelector("h2").insertAdjacentElement("afterend", line);
    }
    var text = c.cells_total ? c.cells_done + " of " + c.cells_total + " cells run" : c.status;
    line.querySelector("[data-role=cells]").textContent = text;
    var bar = line.querySelector("progress");
    bar.max = c.cells_total || 1;
    bar.value = c.cells_done || 0;
  }

  function updateReport(r) {
    setBadge(document.getElementById("report-status"), r.status);
    document.body.setAttribute("data-report-status", r.status);
    var bar = document.getElementById("report-progress");
    if (bar && typeof r.progress === "number") { bar.value = r.progress; }
    var text = document.getElementById("live-text");
    if (text && typeof r.progress === "number") {
      text.textContent = r.status.charAt(0).toUpperCase() + r.status.slice(1) + ": " +
        Math.round(r.progress * 100) + "% done.";
    }
  }

  function showFinished() {
    // The finished report (sections, downloads, notices) is the server's page: fetch it and swap it in.
    fetch(window.location.href, {headers: {Accept: "text/html"}, credentials: "same-origin"})
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("report-root");
        var current = document.getElementById("report-root");
        if (!fresh || !current) { throw new Error("no report on the page"); }
        current.replaceWith(document.importNode(fresh, true));
        document.body.setAttribute("data-report-status", doc.body.getAttribute("data-report-status") || "");
        document.body.setAttribute("data-live", "done");
      })
      .catch(function () { window.location.reload(); });
  }

  function follow(url) {
    var source = new EventSource(url);
    document.body.setAttribute("data-live", "connecting");
    source.addEventListener("open", function () { document.body.setAttribute("data-live", "connected"); });
    source.addEventListener("state", function (event) {
      var state = JSON.parse(event.data);
      (state.components || []).forEach(updateComponent);
      updateReport(state);
    });
    source.addEventListener("component", function (event) { updateComponent(JSON.parse(event.data)); });
    source.addEventListener("report", function (event) { updateReport(JSON.parse(event.data)); });
    source.addEventListener("end", function (event) {
      source.close();
      updateReport({status: JSON.parse(event.data).status, progress: 1});
      showFinished();
    });
    source.addEventListener("gone", function () { source.close(); window.location.reload(); });
  }

  function start() {
    var url = document.body.getAttribute("data-events-url");
    if (url && window.EventSource && window.fetch && window.DOMParser) { follow(url); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
