/* Workbench pages: live progress of a running report (Server-Sent Events from the JSON API) and of a background
 * import (polling `GET /api/v1/imports/{id}`).
 *
 * Served by the app as a static file: the pages' CSP allows scripts from the app only (no inline script) and
 * connections to it. Everything here is an enhancement; without it, a running report or an unfinished import
 * page refreshes itself. Text from the server is set with textContent, never parsed as HTML, except the finished
 * page itself, which is fetched from the app and swapped in (its scripts never run: DOMParser does not run them,
 * and the CSP would refuse inline ones anyway).
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

  function swapIn(rootId, statusAttribute) {
    // The finished page (a report's sections, downloads, notices; an import's outcome and issues) is the
    // server's: fetch it and swap its root element in.
    fetch(window.location.href, {headers: {Accept: "text/html"}, credentials: "same-origin"})
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById(rootId);
        var current = document.getElementById(rootId);
        if (!fresh || !current) { throw new Error("nothing to update on the page"); }
        current.replaceWith(document.importNode(fresh, true));
        document.body.setAttribute(statusAttribute, doc.body.getAttribute(statusAttribute) || "");
        document.title = doc.title;
        document.body.setAttribute("data-live", "done");
      })
      .catch(function () { window.location.reload(); });
  }

  function showFinished() { swapIn("report-root", "data-report-status"); }

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

  // --- a background import: poll its status until it ends, then show the server's page of the outcome ---------

  var IMPORT_TEXT = {queued: "Queued: the import starts once the uploads before it are done.",
                     running: "Running: the rows are read, checked and stored, all or nothing."};
  var IMPORT_FINISHED = {completed: true, failed: true};
  var MAX_POLL_MS = 10000;
  var RELOAD_MS = 5000;  // the page's <noscript> refresh

  function updateImport(job) {
    setBadge(document.getElementById("import-status"), job.status);
    document.body.setAttribute("data-import-status", job.status);
    var text = document.getElementById("live-text");
    if (text && IMPORT_TEXT[job.status]) { text.textContent = IMPORT_TEXT[job.status]; }
  }

  function poll(url, every) {
    var delay = every;
    document.body.setAttribute("data-live", "polling");
    function again() { window.setTimeout(check, delay); }
    function check() {
      fetch(url, {headers: {Accept: "application/json"}, credentials: "same-origin", cache: "no-store"})
        .then(function (response) {
          if (response.status >= 400 && response.status < 500) {
            // gone, or the API refuses this page's caller: reload as the page does without JavaScript
            document.body.setAttribute("data-live", "reload");
            window.setTimeout(function () { window.location.reload(); }, RELOAD_MS);
            return null;
          }
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.json();
        })
        .then(function (job) {
          if (!job) { return; }
          delay = every;
          if (IMPORT_FINISHED[job.status]) {
            updateImport(job);
            swapIn("import-root", "data-import-status");
          } else {
            updateImport(job);
            again();
          }
        })
        .catch(function () {  // the API is unreachable or busy for now: ask again, less often
          delay = Math.min(delay * 2, MAX_POLL_MS);
          again();
        });
    }
    again();
  }

  function start() {
    var url = document.body.getAttribute("data-events-url");
    if (url && window.EventSource && window.fetch && window.DOMParser) { follow(url); }
    var pollUrl = document.body.getAttribute("data-poll-url");
    if (pollUrl && window.fetch && window.DOMParser) {
      poll(pollUrl, parseInt(document.body.getAttribute("data-poll-ms"), 10) || 1000);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
