// The visit report, one step a screen on a phone: one fieldset at a time with "Back" /
// "Next". Without this script the form is one long page and works the same. Nothing is
// stored in the browser (no storage, no cache): what is typed lives in the page, and goes
// to the server only when the visitor saves, adds a row or switches the language.
(function () {
  "use strict";
  function start() {
    var form = document.getElementById("report");
    if (!form) return;
    var steps = Array.prototype.slice.call(form.querySelectorAll("fieldset.step"));
    // the words, in the page's language, from the page (web/templates/report.html)
    var words = { next: form.dataset.next, back: form.dataset.back, of: form.dataset.step,
                  problem: form.dataset.problem };
    var current = 0;

    function stepOf(element) {
      for (var k = 0; k < steps.length; k++) if (steps[k].contains(element)) return k;
      return 0;
    }
    function show(i, field) {
      current = Math.max(0, Math.min(i, steps.length - 1));
      steps.forEach(function (s, k) { s.hidden = k !== current; });
      if (field && field.focus) field.focus({ preventScroll: true });
      window.scrollTo(0, 0);
    }

    if (steps.length > 1) {
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
          next.type = "button"; next.className = "next"; next.textContent = words.next;
          next.addEventListener("click", function () { show(k + 1); });
          nav.appendChild(next);
        }
        step.appendChild(nav);
        // a step with something to correct says so in its title
        if (step.querySelector("[aria-invalid=true]")) {
          var mark = document.createElement("span");
          mark.className = "step-problem";
          mark.textContent = " · " + words.problem;
          step.querySelector("legend").appendChild(mark);
        }
      });
    }

    // the list of problems above the form: each opens its step, the cursor in its field
    Array.prototype.forEach.call(document.querySelectorAll("#problems a[data-field]"), function (link) {
      link.addEventListener("click", function (event) {
        var field = document.getElementById(link.dataset.field);
        if (!field) return;
        event.preventDefault();
        show(stepOf(field), field);
      });
    });

    // where to open: the first problem, else a row just added (its first field), else the top
    var bad = form.querySelector("[aria-invalid=true]");
    var added = form.dataset.focus && document.getElementById(form.dataset.focus);
    if (bad) show(stepOf(bad));
    else if (added) { show(stepOf(added), added); added.scrollIntoView({ block: "center" }); }
    else show(form.dataset.open ? Number(form.dataset.open) : 0);

    // another language keeps what was typed: the form goes to the same page in it
    Array.prototype.forEach.call(document.querySelectorAll("nav.lang a[data-lang]"), function (link) {
      link.addEventListener("click", function (event) {
        event.preventDefault();
        var keep = document.createElement("input");
        keep.type = "hidden"; keep.name = "add"; keep.value = "stay";
        form.appendChild(keep);
        form.action = window.location.pathname + "?lang=" + encodeURIComponent(link.dataset.lang);
        form.submit();
      });
    });

    // Saving on a flaky connection: the report is sent by fetch, with the form's
    // idempotency_key (a new one each time the page is made), so that sending it again is
    // safe: the server stores it once and answers a repeat with its first answer. When the
    // network fails, or the server answers 503 (busy, database away) or 500 (it may not know
    // whether it saved), it is sent again with the same key, a few times, waiting longer each
    // time; a second tap while it is on its way sends nothing more. Without fetch, a plain post.
    var status = document.getElementById("send-status");
    var saver = form.querySelector("button.save");
    var ATTEMPTS = 4;
    var busy = false;
    function say(text) { if (status) { status.textContent = text; status.hidden = !text; } }
    form.addEventListener("submit", function (event) {
      if (!saver || event.submitter !== saver || !window.fetch || !window.FormData) return;
      event.preventDefault();
      if (busy) return;
      busy = true;
      saver.disabled = true;
      var body = new FormData(form);
      var attempt = 0;
      say(form.dataset.sending);
      function show(response) {
        if (response.redirected) { window.location.replace(response.url); return; }
        response.text().then(function (html) { document.open(); document.write(html); document.close(); });
      }
      function again(response, after) {
        if (attempt >= ATTEMPTS) {
          busy = false; saver.disabled = false;
          if (response && response.status !== 503) { show(response); return; }
          say(form.dataset.offline);
          return;
        }
        say(form.dataset.retrying.replace("{n}", attempt + 1).replace("{total}", ATTEMPTS));
        var wait = after ? Number(after) * 1000 : 1000 * Math.pow(2, attempt - 1);
        window.setTimeout(send, Math.min(wait || 1000, 8000));
      }
      function send() {
        attempt += 1;
        fetch(form.action, { method: "POST", body: body, credentials: "same-origin", cache: "no-store" })
          .then(function (response) {
            var retryable = response.status === 503 || response.status === 500 ||
              (response.status === 409 && response.headers.get("Retry-After"));
            if (retryable) again(response, response.headers.get("Retry-After"));
            else show(response);
          }, function () { again(null, null); });
      }
      send();
    });

    // typing is not idleness: while someone types, tell the server now and then, so that a
    // long report does not outlive its session's 30 idle minutes
    var typed = false;
    form.addEventListener("input", function () { typed = true; });
    var token = form.querySelector("input[name=csrf_token]");
    window.setInterval(function () {
      if (!typed || !token) return;
      typed = false;
      fetch("/session/alive", { method: "POST", credentials: "same-origin", cache: "no-store",
                                headers: { "X-CSRF-Token": token.value } });
    }, 4 * 60 * 1000);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
