/* Shared by every review page: the help panel and JSON POSTs carrying the CSRF token.
   Data is only ever put into the page with textContent, never as HTML. */
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
    else if (ev.key === "Escape") { toggleHelp(false); }
  });

  function csrf() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.getAttribute("content") : "";
  }

  window.PM = {
    post: function (url, body) {
      return fetch(url, {
        method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf()},
        body: JSON.stringify(body)
      }).then(function (r) {
        return r.json().then(function (j) {
          if (!r.ok) throw new Error(j.error || ("HTTP " + r.status));
          return j;
        });
      });
    },
    get: function (url) {
      return fetch(url, {credentials: "same-origin"}).then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      });
    },
    el: function (tag, cls, text) {
      var e = document.createElement(tag);
      if (cls) e.className = cls;
      if (text !== undefined && text !== null) e.textContent = String(text);
      return e;
    },
    clear: function (node) { while (node.firstChild) node.removeChild(node.firstChild); },
    toggleHelp: toggleHelp
  };
})();
