// Live statuses for a preview or run: poll the job's JSON and fill in the
// rows already on the page. Text only (textContent), never HTML. Without
// this script the page still works: reload it to see progress.
"use strict";

(function () {
  // One progress bar ("rows" or "bytes") and the words beside it, when the page has them.
  function progress(box, which, value, max, text) {
    const bar = box.querySelector("progress[id$='-" + which + "']");
    if (bar) {
      bar.max = max || 1;
      bar.value = value;
    }
    const words = box.querySelector("." + which + "-text");
    if (words) words.textContent = text;
  }

  function fill(box, job) {
    box.querySelector(".state").textContent = job.summary;
    progress(box, "rows", job.finished, job.total, job.rows_text);
    progress(box, "bytes", job.bytes_done, job.bytes_total, job.bytes_text);
    for (const row of job.rows) {
      const tr = box.querySelector('tr[data-row="' + Number(row.row) + '"]');
      if (!tr) continue;
      const status = tr.querySelector(".status");
      status.textContent = row.status;
      status.dataset.status = row.status;
      tr.querySelector(".action").textContent = row.action;
      tr.querySelector(".error").textContent = row.error;
      const datastore = tr.querySelector(".datastore");
      if (datastore) datastore.textContent = row.datastore;
      const link = tr.querySelector(".link");
      if (row.link && !link.querySelector("a")) {
        const a = document.createElement("a");
        a.href = row.link; // an http(s) address: the server drops any other
        a.textContent = "open in the catalogue";
        link.replaceChildren(a);
      }
    }
    for (const el of box.querySelectorAll('[data-when="running"]')) el.hidden = !job.running;
    for (const el of box.querySelectorAll('[data-when="finished"]')) el.hidden = !job.has_workbook;
    box.dataset.running = job.running ? "true" : "false";
    box.dataset.since = job.next; // next time, only the rows finished since
  }

  function poll(box) {
    const tick = function () {
      // only the rows drawn (one page of them), and only those finished since the last poll
      const url = box.dataset.poll + "?since=" + Number(box.dataset.since || 0) +
        "&first=" + Number(box.dataset.first || 0) + "&last=" + Number(box.dataset.last || -1);
      fetch(url, { credentials: "same-origin", cache: "no-store" })
        .then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(function (job) {
          fill(box, job);
          if (job.running) {
            setTimeout(tick, 300);
          } else {
            // Preview and Run buttons wait on the job: draw the page afresh.
            const focused = document.activeElement && document.activeElement.id;
            if (focused && focused.endsWith("-stop")) window.location.reload();
            else enableButtons();
          }
        })
        .catch(function () {
          setTimeout(tick, 2000);
        });
    };
    setTimeout(tick, 150);
  }

  function enableButtons() {
    // The server drew the buttons disabled only because a job was under way.
    for (const note of document.querySelectorAll(".start .hint")) {
      if (note.dataset.busy === "true") {
        const button = note.parentElement.querySelector("button");
        button.disabled = false;
        button.removeAttribute("aria-describedby");
        note.remove();
      }
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    for (const box of document.querySelectorAll(".job[data-poll]")) {
      if (box.dataset.running === "true") poll(box);
    }
  });
})();
