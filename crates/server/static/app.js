// tiport's web UI: the little that needs a script (no framework, no build step). Every page
// works without it (forms post, links load); this file adds drag and drop, checks before an
// upload, its progress, and lists that refresh themselves.
"use strict";

// The largest file of each format an import takes (decimal megabytes, as the server counts).
const LIMITS = { csv: 50e6, json: 250e6 };

document.addEventListener("DOMContentLoaded", () => {
  const choice = document.getElementById("workspace-choice");
  if (choice && choice.form) {
    // The switcher submits on change; its button stays for those without a script.
    choice.addEventListener("change", () => choice.form.submit());
  }
  const form = document.getElementById("import-form");
  if (form) importForm(form);
  document.querySelectorAll("[data-refresh][id]").forEach(refreshWhileOpen);
});

function importForm(form) {
  const file = form.querySelector("#file");
  const chosen = form.querySelector("#chosen");
  const problem = form.querySelector("#form-problem");
  const progress = form.querySelector("#progress");
  const typeRow = form.querySelector("#indicator-type-row");
  const type = form.querySelector("#indicator-type");
  const template = form.querySelector("#template-link");
  const area = form.querySelector("#drop-area");
  const format = () => form.querySelector("input[name=format]:checked").value;

  const say = (text) => {
    problem.textContent = text;
    problem.hidden = !text;
  };
  const showFormat = () => {
    const csv = format() === "csv";
    typeRow.hidden = !csv;
    template.href = "/templates/" + (csv ? type.value : "json");
    file.accept = csv ? ".csv" : ".json";
  };
  const showChosen = () => {
    const f = file.files[0];
    chosen.textContent = f ? "Chosen: " + f.name + " (" + f.size.toLocaleString() + " bytes)" : "";
  };
  form.querySelectorAll("input[name=format]").forEach((r) => r.addEventListener("change", showFormat));
  type.addEventListener("change", showFormat);
  file.addEventListener("change", showChosen);
  showFormat();

  area.addEventListener("dragover", (e) => {
    e.preventDefault();
    area.classList.add("over");
  });
  area.addEventListener("dragleave", () => area.classList.remove("over"));
  area.addEventListener("drop", (e) => {
    e.preventDefault();
    area.classList.remove("over");
    if (!e.dataTransfer || e.dataTransfer.files.length === 0) return;
    file.files = e.dataTransfer.files;
    showChosen();
  });

  // What is wrong with the form before it is sent, or "".
  const check = () => {
    const f = file.files[0];
    const fmt = format();
    if (!f) return "Choose a file to import.";
    if (!f.name.toLowerCase().endsWith("." + fmt)) {
      return "The file " + f.name + " is not a ." + fmt + " file; choose one, or the other format.";
    }
    if (f.size > LIMITS[fmt]) {
      return "The file is " + (f.size / 1e6).toFixed(1) + " MB; a " + fmt.toUpperCase() +
        " import takes at most " + LIMITS[fmt] / 1e6 + " MB.";
    }
    if (!form.querySelector("#source").value.trim()) return "Give the source of the file.";
    return "";
  };

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const wrong = check();
    say(wrong);
    if (wrong) return;
    const request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.setRequestHeader("Accept", "application/json");
    progress.hidden = false;
    progress.value = 0;
    request.upload.addEventListener("progress", (p) => {
      if (p.lengthComputable) progress.value = (100 * p.loaded) / p.total;
    });
    request.addEventListener("load", () => {
      if (request.status === 202) {
        window.location.assign("/imports");
        return;
      }
      progress.hidden = true;
      let text = "The service refused the import (" + request.status + ").";
      try {
        const body = JSON.parse(request.responseText);
        text = (body.error && body.error.message) || body.message || text;
      } catch (_) {
        if (request.responseText) text = request.responseText;
      }
      say(text);
    });
    request.addEventListener("error", () => {
      progress.hidden = true;
      say("The upload did not reach the service; check the connection and try again.");
    });
    request.send(new FormData(form));
  });
}

// Reloads an element of the page (by its id) every few seconds while the server marks it with
// data-refresh: a list with an import queued or running, counts not made yet.
function refreshWhileOpen(element) {
  const every = Number(element.dataset.refresh) || 2000;
  const tick = async () => {
    try {
      const answer = await fetch(window.location.href, { headers: { Accept: "text/html" } });
      if (answer.ok) {
        const page = new DOMParser().parseFromString(await answer.text(), "text/html");
        const fresh = page.getElementById(element.id);
        if (fresh) {
          const live = document.importNode(fresh, true);
          element.replaceWith(live);
          element = live;
          if (!live.hasAttribute("data-refresh")) return;
        }
      }
    } catch (_) {
      // A missed refresh is tried again at the next tick.
    }
    setTimeout(tick, every);
  };
  setTimeout(tick, every);
}
