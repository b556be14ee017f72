/* The passage view: fetch the passage as JSON, render it with textContent, and send corrections.
   Keys: a accept, 1-4 label, j/k or arrows move, u undo (? and Esc are in common.js). */
"use strict";
(function () {
  var root = document.getElementById("review");
  var docId = root.dataset.doc, index = parseInt(root.dataset.index, 10);
  var labels = root.dataset.labels.split(",");
  var query = root.dataset.query;
  var filters = {};
  new URLSearchParams(query).forEach(function (v, k) { filters[k] = v; });
  var current = null, editing = null, busy = false;
  var $ = function (id) { return document.getElementById(id); };
  var el = PM.el;

  function status(msg, bad) {
    var s = $("status");
    s.textContent = msg || "";
    s.className = "status" + (bad ? " bad" : "");
  }

  function setLink(a, href) {
    if (href) { a.setAttribute("href", href); a.className = ""; }
    else { a.removeAttribute("href"); a.className = "disabled"; }
  }

  function renderText(p) {
    var box = $("passage-text");
    PM.clear(box);
    var text = p.text, pos = 0;
    function plain(upto) {
      if (upto > pos) {
        var s = el("span", "seg", text.slice(pos, upto));
        s.dataset.start = pos;
        box.appendChild(s);
      }
    }
    p.entities.forEach(function (e) {
      if (e.start < pos) return;  // overlapping (should not happen): keep the first
      plain(e.start);
      var m = el("mark", "ent ent-" + e.type, text.slice(e.start, e.end));
      m.dataset.start = e.start;
      m.dataset.key = e.key;
      m.title = (e.canonical || e.text) + " (" + e.type + ")";
      m.tabIndex = 0;
      m.addEventListener("click", function (ev) { ev.stopPropagation(); openEditor(e); });
      box.appendChild(m);
      pos = e.end;
    });
    plain(text.length);
  }

  function renderContext(ctx) {
    var before = $("context-before"), after = $("context-after");
    PM.clear(before); PM.clear(after);
    ctx.forEach(function (c) {
      if (c.current) return;
      var row = el("p", "ctx");
      row.appendChild(el("span", "lab lab-" + c.label, c.label));
      row.appendChild(document.createTextNode(" "));
      row.appendChild(el("span", "", c.text));
      (c.index < index ? before : after).appendChild(row);
    });
  }

  function render(j) {
    current = j;
    var d = j.doc, p = j.passage;
    $("doc-title").textContent = (d.title || d.doc_id) + "  #" + p.index + " / " + d.n_passages;
    $("doc-date").textContent = d.published_at || "no date";
    $("doc-source").textContent = d.site || d.url || d.path || "unknown source";
    $("doc-publisher").textContent = d.publisher || "";
    $("heading").textContent = p.heading ? "heading: " + p.heading : "";
    var lab = $("label");
    lab.textContent = p.label + (p.reviewed_label ? " (reviewed)" : " (machine)");
    lab.className = "lab lab-" + p.label + (p.reviewed_label ? " reviewed" : "");
    $("machine").textContent = "machine: " + p.machine_label + (p.secondary ? " / " + p.secondary : "");
    var sc = $("scores");
    PM.clear(sc);
    labels.forEach(function (l) {
      var tr = el("tr", p.machine_label === l ? "best" : "");
      tr.appendChild(el("td", "", l));
      var v = p.scores[l] || 0;
      var bar = el("meter");
      bar.min = 0; bar.max = 1; bar.value = v;
      var td = el("td"); td.appendChild(bar); tr.appendChild(td);
      tr.appendChild(el("td", "num", v.toFixed(3)));
      sc.appendChild(tr);
    });
    renderText(p);
    renderContext(j.context);
    setLink($("prev"), j.nav.prev);
    setLink($("next"), j.nav.next);
    $("position").textContent = j.nav.position + " of " + j.nav.matching;
    $("progress").textContent = j.progress.reviewed + " reviewed / " + j.progress.total;
    closeEditor();
  }

  function load() {
    return PM.get("/api/passage/" + encodeURIComponent(docId) + "/" + index + (query ? "?" + query : ""))
      .then(render).catch(function (e) { status("could not load: " + e.message, true); });
  }

  function send(url, body, msg) {
    if (busy) return Promise.resolve();
    busy = true;
    body.doc_id = docId; body.index = index; body.filters = filters;
    return PM.post(url, body).then(function (j) { render(j); status(msg); })
      .catch(function (e) { status(e.message, true); })
      .finally(function () { busy = false; });
  }

  function undo() {
    PM.post("/api/undo", {filters: filters}).then(function (j) {
      if (!j.undone) { status("nothing to undo"); return; }
      if (j.undone.doc_id === docId && j.undone.index === index) { render(j.passage); status("undone: " + j.undone.kind); }
      else { location.href = "/p/" + encodeURIComponent(j.undone.doc_id) + "/" + j.undone.index + (query ? "?" + query : ""); }
    }).catch(function (e) { status(e.message, true); });
  }

  function go(which) {
    var href = current && current.nav[which];
    if (href) location.href = href;
  }

  // -- entities ------------------------------------------------------------------------------------------
  function openEditor(ent) {
    editing = ent;
    $("entity-editor").hidden = false;
    $("entity-editor-what").textContent = ent.key ? "entity “" + ent.text + "”" : "new entity “" + ent.text + "”";
    $("entity-type").value = ent.type || "INSTITUTION";
    $("entity-delete").hidden = !ent.key;
    $("entity-type").focus();
  }

  function closeEditor() {
    editing = null;
    $("entity-editor").hidden = true;
  }

  function offsetOf(node, offset) {
    var seg = node.nodeType === 3 ? node.parentNode : node;
    if (!seg || !seg.dataset || seg.dataset.start === undefined || seg.parentNode !== $("passage-text")) return null;
    return parseInt(seg.dataset.start, 10) + (node.nodeType === 3 ? offset : 0);
  }

  $("passage-text").addEventListener("mouseup", function () {
    var sel = window.getSelection();
    if (!sel || sel.isCollapsed || !sel.rangeCount) return;
    var r = sel.getRangeAt(0);
    var a = offsetOf(r.startContainer, r.startOffset), b = offsetOf(r.endContainer, r.endOffset);
    if (a === null || b === null || b <= a) return;
    openEditor({key: null, text: current.passage.text.slice(a, b), start: a, end: b, type: "INSTITUTION"});
  });

  $("entity-save").addEventListener("click", function () {
    if (!editing) return;
    var type = $("entity-type").value;
    if (editing.key) send("/api/entity/update", {key: editing.key, type: type}, "entity type changed");
    else send("/api/entity/add", {start: editing.start, end: editing.end, type: type}, "entity added");
  });
  $("entity-delete").addEventListener("click", function () {
    if (editing && editing.key) send("/api/entity/delete", {key: editing.key}, "entity deleted");
  });
  $("entity-cancel").addEventListener("click", closeEditor);

  // -- buttons and keys -----------------------------------------------------------------------------------
  root.addEventListener("click", function (ev) {
    var b = ev.target.closest("button[data-action]");
    if (!b) return;
    var act = b.dataset.action;
    if (act === "accept") send("/api/accept", {}, "accepted");
    else if (act === "label") send("/api/label", {label: b.dataset.label}, "label set to " + b.dataset.label);
    else if (act === "undo") undo();
  });

  document.addEventListener("keydown", function (ev) {
    if (ev.target && /^(INPUT|SELECT|TEXTAREA)$/.test(ev.target.tagName)) return;
    if (ev.ctrlKey || ev.metaKey || ev.altKey || !current) return;
    var k = ev.key;
    if (k === "a") send("/api/accept", {}, "accepted");
    else if (k >= "1" && k <= "4") send("/api/label", {label: labels[parseInt(k, 10) - 1]}, "label set to " + labels[parseInt(k, 10) - 1]);
    else if (k === "j" || k === "ArrowDown" || k === "ArrowRight") go("next");
    else if (k === "k" || k === "ArrowUp" || k === "ArrowLeft") go("prev");
    else if (k === "u") undo();
    else return;
    ev.preventDefault();
  });

  load();
})();
