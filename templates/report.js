// otrig report: filters and timeline navigation (inlined into the page, no libraries).
(function () {
  "use strict";
  var cards = Array.prototype.slice.call(document.querySelectorAll("article.frame"));
  var sets = cards.map(function (c) {
    var d = {};
    ["hit", "miss", "skip", "error", "changed"].forEach(function (k) {
      d[k] = JSON.parse(c.getAttribute("data-" + k) || "[]");
    });
    return d;
  });
  var fProc = document.getElementById("f-proc");
  var fCond = document.getElementById("f-cond");
  var fScreen = document.getElementById("f-screen");
  var shown = document.getElementById("shown");

  function matches(i) {
    var c = cards[i], cond = fCond.value, proc = fProc.value;
    if (fScreen.value !== "*" && c.getAttribute("data-screen") !== fScreen.value) return false;
    if (cond === "all") return proc === "*" || ["hit", "miss", "skip", "error"].some(function (k) { return sets[i][k].indexOf(proc) >= 0; });
    var list = sets[i][cond] || [];
    return proc === "*" ? list.length > 0 : list.indexOf(proc) >= 0;
  }

  function apply() {
    var n = 0;
    for (var i = 0; i < cards.length; i++) {
      var ok = matches(i);
      cards[i].hidden = !ok;
      if (ok) n++;
    }
    shown.textContent = String(n);
    var q = [];
    if (fProc.value !== "*") q.push("proc=" + encodeURIComponent(fProc.value));
    if (fCond.value !== "all") q.push("cond=" + encodeURIComponent(fCond.value));
    if (fScreen.value !== "*") q.push("screen=" + encodeURIComponent(fScreen.value));
    try { history.replaceState(null, "", q.length ? "#" + q.join("&") : location.pathname + location.search); } catch (e) { /* file:// in some browsers */ }
  }
  window.otrigFilter = function (proc, cond, screen) {
    fProc.value = proc || "*"; fCond.value = cond || "all"; fScreen.value = screen || "*";
    apply();
    return Number(shown.textContent);
  };
  [fProc, fCond, fScreen].forEach(function (el) { el.addEventListener("change", apply); });

  // Restore filters from the hash (#proc=weapon&cond=miss) so a filtered view can be linked.
  var h = location.hash.slice(1);
  if (h.indexOf("=") > 0) {
    h.split("&").forEach(function (kv) {
      var p = kv.split("="), v = decodeURIComponent(p[1] || "");
      var el = { proc: fProc, cond: fCond, screen: fScreen }[p[0]];
      if (el && Array.prototype.some.call(el.options, function (o) { return o.value === v; })) el.value = v;
    });
    apply();
  }

  // A JSON link opens its <details>.
  function openJson(id) {
    var d = document.getElementById(id);
    if (d && d.tagName === "DETAILS") { d.open = true; d.scrollIntoView({ block: "center" }); }
  }
  document.addEventListener("click", function (ev) {
    var a = ev.target.closest ? ev.target.closest("a.jsonlink[href^='#json-']") : null;
    if (a) { ev.preventDefault(); openJson(a.getAttribute("href").slice(1)); }
  });
  if (location.hash.indexOf("#json-") === 0) openJson(location.hash.slice(1));

  // Timeline: clicking a segment jumps to the first shown frame at or after it.
  var tl = document.getElementById("timeline-svg");
  if (tl) tl.addEventListener("click", function (ev) {
    var r = ev.target.closest ? ev.target.closest("rect[data-seq]") : null;
    if (!r) return;
    var seq = Number(r.getAttribute("data-seq")), best = null;
    for (var i = 0; i < cards.length; i++) {
      if (cards[i].hidden) continue;
      if (Number(cards[i].getAttribute("data-seq")) >= seq) { best = cards[i]; break; }
      best = cards[i];
    }
    if (best) { best.scrollIntoView({ block: "start" }); try { history.replaceState(null, "", "#" + best.id); } catch (e) { /* ignore */ } }
  });
})();
