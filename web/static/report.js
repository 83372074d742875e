// The visit report, one step a screen on a phone: shows one fieldset at a time with
// "Back" / "Next" buttons. Without this script the form is one long page and works the
// same. Nothing is stored in the browser (no storage, no cache): the form lives in the page.
(function () {
  "use strict";
  function start() {
    var form = document.getElementById("report");
    if (!form) return;
    var steps = Array.prototype.slice.call(form.querySelectorAll("fieldset.step"));
    if (steps.length < 2) return;
    // the words, in the page's language, from the page (web/templates/report.html)
    var words = { next: form.dataset.next, back: form.dataset.back, of: form.dataset.step };
    var current = 0;
    function show(i) {
      current = Math.max(0, Math.min(i, steps.length - 1));
      steps.forEach(function (s, k) { s.hidden = k !== current; });
      var first = steps[current].querySelector("[aria-invalid=true], input, select, textarea");
      if (first && first.focus && i !== 0) first.focus({ preventScroll: true });
      window.scrollTo(0, 0);
    }
    steps.forEach(function (step, k) {
      var nav = document.createElement("div");
      nav.className = "step-nav";
      var where = document.createElement("span");
      where.className = "muted";
      where.textContent = words.of + " " + (k + 1) + " / " + steps.length;
      nav.appendChild(where);
      if (k > 0) {
        var back = document.createElement("button");
        back.type = "button"; back.className = "secondary"; back.textContent = words.back;
        back.addEventListener("click", function () { show(k - 1); });
        nav.appendChild(back);
      }
      if (k < steps.length - 1) {
        var next = document.createElement("button");
        next.type = "button"; next.textContent = words.next; next.dataset.next = String(k + 1);
        next.addEventListener("click", function () { show(k + 1); });
        nav.appendChild(next);
      }
      step.appendChild(nav);
    });
    // after an answer with problems, open the step of the first one
    var bad = form.querySelector("[aria-invalid=true]");
    var at = 0;
    if (bad) steps.forEach(function (s, k) { if (s.contains(bad)) at = k; });
    var added = form.dataset.open;
    show(added ? Number(added) : at);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
