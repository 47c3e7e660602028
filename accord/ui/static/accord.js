// Accord's only script (the CSP allows no inline script): while an import runs, its page asks for
// the job as JSON once a second, moves the progress bar, and reloads itself when the job has ended.
"use strict";
(function () {
  const box = document.querySelector("[data-poll]");
  if (!box) {
    return;
  }
  const url = box.getAttribute("data-poll");
  const bar = document.getElementById("job-progress");

  async function poll() {
    try {
      const answer = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (answer.ok) {
        const job = (await answer.json()).job;
        if (job.status !== "queued" && job.status !== "running") {
          window.location.reload();
          return;
        }
        if (bar && job.progress && job.progress.done !== null) {
          bar.max = job.progress.total || 1;
          bar.value = job.progress.done;
        }
      }
    } catch (err) {
      // A network hiccup: ask again on the next tick.
    }
    window.setTimeout(poll, 1000);
  }

  window.setTimeout(poll, 300);
})();

// The TLP picker (create and share forms): show only the audiences the chosen level allows (its
// radio button's data-audiences) and disable the others, so what is sent is what is shown. The
// server refuses a mismatch anyway; without this script every list is shown.
(function () {
  const radios = document.querySelectorAll(".tlp-picker input[name=tlp]");
  if (!radios.length) {
    return;
  }

  function update() {
    const chosen = document.querySelector(".tlp-picker input[name=tlp]:checked");
    const allowed = chosen ? (chosen.getAttribute("data-audiences") || "").split(" ") : [];
    document.querySelectorAll("fieldset[data-audience]").forEach(function (box) {
      const shown = allowed.indexOf(box.getAttribute("data-audience")) >= 0;
      box.hidden = !shown;
      box.disabled = !shown;
    });
  }

  radios.forEach(function (radio) {
    radio.addEventListener("change", update);
  });
  update();
})();
