// tandemq dashboard: live refresh of the page's #live part, and POST actions.
// No dependencies; served from the package (no CDN). The server renders everything: this
// file only fetches the same page with ?partial=1 and swaps the fresh HTML in.
(function () {
  "use strict";

  var live = document.getElementById("live");
  var status = document.getElementById("live-status");
  var toast = document.getElementById("toast");
  var token = document.querySelector('meta[name="csrf-token"]').content;
  var every = parseInt(live.dataset.refresh, 10) || 2000;
  var timer = null;
  var busy = false;
  var holdUntil = 0; // no swap while a button is being pressed: the click would be lost

  function partialUrl() {
    var url = new URL(window.location.href);
    url.searchParams.set("partial", "1");
    return url.toString();
  }

  function setStatus(ok, text) {
    status.className = ok ? "live" : "live down";
    status.textContent = text;
  }

  function refresh() {
    if (busy || document.hidden) return Promise.resolve();
    busy = true;
    return fetch(partialUrl(), { headers: { Accept: "text/html" }, credentials: "same-origin" })
      .then(function (response) {
        return response.text().then(function (html) {
          if (Date.now() < holdUntil) return;
          live.innerHTML = html;
          document.body.dataset.refreshed = String(Date.now());
          if (response.status >= 500) setStatus(false, "Redis unavailable");
          else setStatus(true, "live · " + new Date().toLocaleTimeString());
        });
      })
      .catch(function () { setStatus(false, "reconnecting"); })
      .then(function () { busy = false; });
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(function () { refresh().then(schedule); }, every);
  }

  function show(message, bad) {
    toast.textContent = message;
    toast.className = bad ? "show bad" : "show";
    clearTimeout(show.timer);
    show.timer = setTimeout(function () { toast.className = ""; }, 4000);
  }

  function describe(body) {
    if (body.error) return body.error;
    if (body.done !== undefined) return body.action + ": " + body.done + " tasks";
    if (body.paused !== undefined) return body.queue + (body.paused ? " paused" : " resumed");
    return body.action + " " + body.task_id + ": done";
  }

  function act(button) {
    holdUntil = 0;
    var question = button.dataset.confirm;
    if (question && !window.confirm(question)) return;
    button.disabled = true;
    fetch(button.dataset.post, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": token, Accept: "application/json" },
    })
      .then(function (response) {
        return response.json().then(function (body) {
          show(describe(body), !response.ok);
          if (response.ok && button.dataset.then) {
            window.location.assign(button.dataset.then);
            return;
          }
          return refresh();
        });
      })
      .catch(function (error) { show("request failed: " + error, true); })
      .then(function () { button.disabled = false; });
  }

  document.addEventListener("pointerdown", function (event) {
    if (event.target.closest("button, a")) holdUntil = Date.now() + 1500;
  });
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-post]");
    if (button) {
      event.preventDefault();
      act(button);
    }
  });
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) refresh().then(schedule);
  });
  setStatus(true, "live");
  schedule();
})();
