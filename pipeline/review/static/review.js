/* The passage view: fetch the passage as JSON, render it with textContent, and send corrections.
   Corrections go one after another in the order they were asked for (keys typed fast are queued, never dropped),
   each carrying the state hash of what the page shows: the server refuses a write on a passage that changed
   since, and the page then shows the passage as it is. Keys are listed in the help panel (passage.html). */
"use strict";
(function () {
  var root = document.getElementById("review");
  var docId = root.dataset.doc, index = parseInt(root.dataset.index, 10);
  var labels = root.dataset.labels.split(",");
  var query = root.dataset.query;
  var filters = {};
  new URLSearchParams(query).forEach(function (v, k) { filters[k] = v; });
  var current = null, editing = null, pick = null, queue = Promise.resolve(), refocusKey = null;
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

  // -- rendering -----------------------------------------------------------------------------------------
  function plainPieces(box, text, from, upto) {
    // Plain text from..upto as spans (data-start = offset), the part inside the span being picked marked.
    var cuts = [from, upto];
    if (pick) cuts.push(Math.min(Math.max(pick.start, from), upto), Math.min(Math.max(pick.end, from), upto));
    cuts = cuts.filter(function (v, i, a) { return a.indexOf(v) === i; }).sort(function (a, b) { return a - b; });
    for (var i = 0; i + 1 < cuts.length; i++) {
      var a = cuts[i], b = cuts[i + 1];
      var picked = pick && a >= pick.start && b <= pick.end;
      var s = el("span", picked ? "seg pick" : "seg", text.slice(a, b));
      s.dataset.start = a;
      box.appendChild(s);
    }
  }

  function renderText(p) {
    var box = $("passage-text");
    PM.clear(box);
    var text = p.text, pos = 0;
    p.entities.forEach(function (e) {
      if (e.start < pos) return;  // overlapping (should not happen): keep the first
      if (e.start > pos) plainPieces(box, text, pos, e.start);
      var m = el("mark", "ent ent-" + e.type, text.slice(e.start, e.end));
      m.dataset.start = e.start;
      m.dataset.key = e.key;
      m.title = (e.canonical || e.text) + " (" + e.type + ")";
      m.tabIndex = 0;
      m.setAttribute("role", "button");
      m.addEventListener("click", function (ev) { ev.stopPropagation(); openEditor(e); });
      box.appendChild(m);
      pos = e.end;
    });
    if (text.length > pos) plainPieces(box, text, pos, text.length);
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

  function renderScores(p) {
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
    renderScores(p);
    closeEditor(true);
    renderText(p);
    renderContext(j.context);
    setLink($("prev"), j.nav.prev);
    setLink($("next"), j.nav.next);
    $("position").textContent = j.nav.position + " of " + j.nav.matching;
    $("progress").textContent = j.progress.reviewed + " reviewed / " + j.progress.total;
    if (refocusKey) {
      var m = document.querySelector('#passage-text mark[data-key="' + refocusKey + '"]');
      refocusKey = null;
      if (m) m.focus();
    }
  }

  function apiUrl() {
    return "/api/passage/" + encodeURIComponent(docId) + "/" + index + (query ? "?" + query : "");
  }

  function load() {
    return PM.get(apiUrl()).then(render).catch(function (e) { status("could not load: " + e.message, true); });
  }

  // -- writes, one after another -------------------------------------------------------------------------
  function failed(e) {
    if (e.code === "stale" && e.body && e.body.passage) { render(e.body.passage); }
    else if (e.status === 404) { status(e.message + " (the run may have been re-indexed: go back to the list)", true); return; }
    status(e.message, true);
  }

  function send(url, body, msg) {
    queue = queue.then(function () {
      if (!current) return null;
      body.doc_id = docId; body.index = index; body.filters = filters; body.expect = current.passage.state;
      return PM.post(url, body).then(function (j) { render(j); status(msg); }).catch(failed);
    });
    return queue;
  }

  function undo() {
    queue = queue.then(function () {
      return PM.post("/api/undo", {filters: filters}).then(function (j) {
        if (!j.undone) { status("nothing of yours to undo"); return; }
        if (j.undone.doc_id === docId && j.undone.index === index) { render(j.passage); status("undone: " + j.undone.kind); }
        else { location.href = "/p/" + encodeURIComponent(j.undone.doc_id) + "/" + j.undone.index + (query ? "?" + query : ""); }
      }).catch(failed);
    });
  }

  function go(which) {
    var href = current && current.nav[which];
    if (href) queue.then(function () { location.href = href; });
  }

  // The page notices a change made elsewhere (another reviewer, a re-run) when it comes back into view.
  window.addEventListener("focus", function () {
    if (!current) return;
    var seen = current.passage.state;
    PM.get(apiUrl()).then(function (j) {
      if (j.passage.state !== seen && current.passage.state === seen) {
        render(j);
        status("this passage changed while the page was in the background" +
               (j.passage.reviewer ? " (last by " + j.passage.reviewer + ")" : ""), true);
      }
    }).catch(function (e) { status(e.message, true); });
  });

  // -- entities ------------------------------------------------------------------------------------------
  function openEditor(ent) {
    stopPicking();
    editing = ent;
    $("entity-editor").hidden = false;
    $("entity-editor-what").textContent = ent.key ? "entity “" + ent.text + "”" : "new entity “" + ent.text + "”";
    $("entity-type").value = ent.type || "INSTITUTION";
    $("entity-delete").hidden = !ent.key;
    $("entity-type").focus();
  }

  function closeEditor(quiet) {
    var key = editing && editing.key;
    editing = null;
    $("entity-editor").hidden = true;
    if (!quiet && key) {
      var m = document.querySelector('#passage-text mark[data-key="' + key + '"]');
      if (m) m.focus();
    }
  }

  function saveEditor() {
    if (!editing) return;
    var type = $("entity-type").value;
    if (editing.key) { refocusKey = editing.key; send("/api/entity/update", {key: editing.key, type: type}, "entity type changed"); }
    else send("/api/entity/add", {start: editing.start, end: editing.end, type: type}, "entity added");
  }

  function deleteEntity(key) {
    if (key) send("/api/entity/delete", {key: key}, "entity deleted");
  }

  function offsetOf(node, offset) {
    var seg = node.nodeType === 3 ? node.parentNode : node;
    if (!seg || !seg.dataset || seg.dataset.start === undefined || seg.parentNode !== $("passage-text")) return null;
    return parseInt(seg.dataset.start, 10) + (node.nodeType === 3 ? offset : 0);
  }

  function selectedSpan() {
    var sel = window.getSelection();
    if (!sel || sel.isCollapsed || !sel.rangeCount) return null;
    var r = sel.getRangeAt(0);
    var a = offsetOf(r.startContainer, r.startOffset), b = offsetOf(r.endContainer, r.endOffset);
    return a === null || b === null || b <= a ? null : {start: a, end: b};
  }

  function newEntity(span) {
    openEditor({key: null, text: current.passage.text.slice(span.start, span.end), start: span.start,
                end: span.end, type: "INSTITUTION"});
  }

  $("passage-text").addEventListener("mouseup", function () {
    var span = selectedSpan();
    if (span) newEntity(span);
  });

  // Picking a span with the keyboard: a one-character span from the start (or after the focused entity).
  function startPicking() {
    var span = selectedSpan();
    if (span) { newEntity(span); return; }
    var focused = document.activeElement && document.activeElement.dataset && document.activeElement.dataset.key;
    var from = 0;
    if (focused) current.passage.entities.forEach(function (e) { if (e.key === focused) from = e.end; });
    if (from >= current.passage.text.length) from = 0;
    pick = {start: from, end: from + 1};
    $("span-hint").hidden = false;
    renderText(current.passage);
    status("picking: “" + current.passage.text.slice(pick.start, pick.end) + "”");
  }

  function stopPicking() {
    if (!pick) return;
    pick = null;
    $("span-hint").hidden = true;
    if (current) renderText(current.passage);
  }

  function movePick(key, shift) {
    var n = current.passage.text.length;
    if (shift) pick.end = key === "ArrowRight" ? Math.min(n, pick.end + 1) : Math.max(pick.start + 1, pick.end - 1);
    else {
      var step = key === "ArrowRight" ? 1 : -1, len = pick.end - pick.start;
      pick.start = Math.min(n - len, Math.max(0, pick.start + step));
      pick.end = pick.start + len;
    }
    renderText(current.passage);
    status("picking: “" + current.passage.text.slice(pick.start, pick.end) + "”");
  }

  function pickingKey(ev) {
    var k = ev.key;
    if (k === "ArrowRight" || k === "ArrowLeft") movePick(k, ev.shiftKey);
    else if (k === "Enter") { var span = pick; stopPicking(); newEntity(span); }
    else if (k === "Escape") { stopPicking(); status(""); }
    else return false;
    return true;
  }

  $("entity-save").addEventListener("click", saveEditor);
  $("entity-delete").addEventListener("click", function () { if (editing) deleteEntity(editing.key); });
  $("entity-cancel").addEventListener("click", function () { closeEditor(); });
  $("entity-editor").addEventListener("keydown", function (ev) {
    if (ev.key === "Escape") { closeEditor(); ev.preventDefault(); ev.stopPropagation(); }
    else if (ev.key === "Enter" && ev.target.id === "entity-type") { saveEditor(); ev.preventDefault(); }
    else if (ev.key === "Delete" && editing && editing.key) { deleteEntity(editing.key); ev.preventDefault(); }
  });

  // -- buttons and keys -----------------------------------------------------------------------------------
  root.addEventListener("click", function (ev) {
    var b = ev.target.closest("button[data-action]");
    if (!b) return;
    var act = b.dataset.action;
    if (act === "accept") send("/api/accept", {}, "accepted");
    else if (act === "label") send("/api/label", {label: b.dataset.label}, "label set to " + b.dataset.label);
    else if (act === "undo") undo();
    else if (act === "new-entity") startPicking();
  });

  function entityKey(ev) {
    var key = ev.target && ev.target.dataset && ev.target.dataset.key;
    if (!key || ev.target.tagName !== "MARK") return false;
    if (ev.key === "Enter" || ev.key === " ") {
      current.passage.entities.forEach(function (e) { if (e.key === key) openEditor(e); });
    } else if (ev.key === "Delete" || ev.key === "Backspace") deleteEntity(key);
    else return false;
    return true;
  }

  document.addEventListener("keydown", function (ev) {
    if (ev.target && /^(INPUT|SELECT|TEXTAREA)$/.test(ev.target.tagName)) return;
    if (ev.ctrlKey || ev.metaKey || ev.altKey || !current || PM.helpOpen()) return;
    if (pick) { if (pickingKey(ev)) ev.preventDefault(); return; }
    if (entityKey(ev)) { ev.preventDefault(); return; }
    if (ev.target && ev.target.tagName === "BUTTON" && (ev.key === "Enter" || ev.key === " ")) return;
    var k = ev.key;
    if (k === "a") send("/api/accept", {}, "accepted");
    else if (k >= "1" && k <= String(labels.length)) send("/api/label", {label: labels[parseInt(k, 10) - 1]}, "label set to " + labels[parseInt(k, 10) - 1]);
    else if (k === "j" || k === "ArrowRight") go("next");
    else if (k === "k" || k === "ArrowLeft") go("prev");
    else if (k === "u") undo();
    else if (k === "e") startPicking();
    else if (k === "Escape" && editing) closeEditor();
    else return;
    ev.preventDefault();
  });

  load();
})();
