// gotune board: live updates of a run page and the new-run form's method
// options. No libraries; the pages work without this script too.
"use strict";

function follow(box) {
  const src = box.dataset.src;
  let timer = null;
  const scrollLog = () => {
    const log = document.getElementById("log");
    if (log) log.scrollTop = log.scrollHeight;
  };
  const tick = async () => {
    let html;
    try {
      const res = await fetch(src, {cache: "no-store", credentials: "same-origin"});
      if (!res.ok) return;
      html = await res.text();
    } catch (e) {
      return; // the board may be restarting; try again on the next tick
    }
    box.innerHTML = html;
    scrollLog();
    const inner = box.querySelector(".livebox");
    if (!inner || inner.dataset.running !== "true") {
      clearInterval(timer);
      // The run ended: reload once for its result and files.
      window.location.reload();
    }
  };
  scrollLog();
  const inner = box.querySelector(".livebox");
  if (inner && inner.dataset.running === "true") {
    timer = setInterval(tick, 2000);
  }
}

function methodOptions(form) {
  const method = form.querySelector("select[name=method]");
  if (!method) return;
  const show = () => {
    for (const fs of form.querySelectorAll("fieldset.method-options")) {
      const names = fs.dataset.methods.split(" ");
      fs.hidden = !(names.includes(method.value) || names.includes("causal-lm"));
    }
  };
  method.addEventListener("change", show);
  show();
}

document.addEventListener("DOMContentLoaded", () => {
  const live = document.getElementById("live");
  if (live) follow(live);
  const form = document.getElementById("newrun");
  if (form) methodOptions(form);
});
