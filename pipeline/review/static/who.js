/* The name form: the name is stored in a cookie by the server, then the page the reviewer wanted opens. */
"use strict";
(function () {
  var form = document.getElementById("who-form");
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var name = document.getElementById("who-name").value.trim();
    PM.post("/api/reviewer", {name: name}).then(function () {
      location.href = form.dataset.next || "/";
    }).catch(function (e) {
      var s = document.getElementById("status");
      s.textContent = e.message; s.className = "status bad";
    });
  });
})();
