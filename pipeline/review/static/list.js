/* The passage list: / search, j/k move between rows, Enter opens (the row's link has focus), [ ] change page. */
"use strict";
(function () {
  var links = Array.prototype.slice.call(document.querySelectorAll("table.rows a.open"));
  function move(step) {
    var at = links.indexOf(document.activeElement);
    var next = at < 0 ? (step > 0 ? 0 : links.length - 1) : Math.min(links.length - 1, Math.max(0, at + step));
    if (links[next]) { links[next].focus(); links[next].closest("tr").scrollIntoView({block: "nearest"}); }
  }
  function follow(selector) {
    var a = document.querySelector(selector);
    if (a) location.href = a.getAttribute("href");
  }
  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || (ev.target && /^(INPUT|SELECT|TEXTAREA)$/.test(ev.target.tagName))) return;
    var k = ev.key;
    if (k === "/") document.getElementById("search").focus();
    else if (k === "j") move(1);
    else if (k === "k") move(-1);
    else if (k === "]") follow("nav.pager a.next-page");
    else if (k === "[") follow("nav.pager a.prev-page");
    else return;
    ev.preventDefault();
  });
})();
