/* Shared by every review page: the help panel, and JSON requests carrying the CSRF token. After a server
   restart the page's token is stale: a write refused for that reason fetches a fresh one and is sent once more;
   if that fails too the page says to reload. Data is only ever put into the page with textContent. */
"use strict";
(function () {
  var help = document.getElementById("help");
  function toggleHelp(show) {
    help.hidden = show === undefined ? !help.hidden : !show;
  }
  document.getElementById("help-button").addEventListener("click", function () { toggleHelp(); });
  document.addEventListener("keydown", function (ev) {
    if (ev.target && /^(INPUT|SELECT|TEXTAREA)$/.test(ev.target.tagName)) return;
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.key === "?") { toggleHelp(); ev.preventDefault(); }
    else if (ev.key === "Escape" && !help.hidden) { toggleHelp(false); ev.stopImmediatePropagation(); }
  });

  function meta() { return document.querySelector('meta[name="csrf-token"]'); }
  function csrf() { var m = meta(); return m ? m.getAttribute("content") : ""; }

  function failure(r, j) {
    var e = new Error((j && j.error) || ("HTTP " + r.status));
    e.status = r.status; e.code = j && j.code; e.body = j;
    return e;
  }

  function unreachable() {
    var e = new Error("cannot reach the review server (is it running?); corrections already saved are kept");
    e.code = "offline";
    return e;
  }

  function get(url) {
    return fetch(url, {credentials: "same-origin"}).catch(function () { throw unreachable(); })
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (j) {
          if (!r.ok) throw failure(r, j);
          return j;
        });
      });
  }

  function refreshSession() {
    return get("/api/session").then(function (j) { meta().setAttribute("content", j.csrf); });
  }

  function post(url, body, retried) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf()},
      body: JSON.stringify(body)
    }).catch(function () { throw unreachable(); }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) {
        if (r.status === 403 && j.code === "csrf") {
          if (retried) throw failure(r, {error: "the server was restarted and this page could not reconnect: reload the page", code: "reload"});
          return refreshSession().then(function () { return post(url, body, true); });
        }
        if (r.status === 403 && j.code === "who") {
          location.href = "/who?next=" + encodeURIComponent(location.pathname + location.search);
        }
        if (!r.ok) throw failure(r, j);
        return j;
      });
    });
  }

  window.PM = {
    post: function (url, body) { return post(url, body, false); },
    get: get,
    el: function (tag, cls, text) {
      var e = document.createElement(tag);
      if (cls) e.className = cls;
      if (text !== undefined && text !== null) e.textContent = String(text);
      return e;
    },
    clear: function (node) { while (node.firstChild) node.removeChild(node.firstChild); },
    toggleHelp: toggleHelp,
    helpOpen: function () { return !help.hidden; },
    typing: function (ev) { return ev.target && /^(INPUT|SELECT|TEXTAREA|BUTTON)$/.test(ev.target.tagName); }
  };
})();
