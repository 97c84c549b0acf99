// otrig studio: the page's script. Plain DOM, no libraries. Talks to the studio's /api/.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";
  // window.otrigStudio: what the page shows now (read by the tests and handy in a console)
  const S = window.otrigStudio = { state: null, run: null, stress: null, shot: 0, t: 0, generation: 0,
                                   runs: 0, renderedAt: 0, box: null, pixel: null };

  async function getJSON(url) {
    const r = await fetch(url, { cache: "no-store" });
    const doc = await r.json();
    if (!r.ok) throw new Error((doc.error && doc.error.message) || r.statusText);
    return doc;
  }
  const fmt = (v) => v === null || v === undefined ? "null" : typeof v === "number" ?
    (Number.isInteger(v) ? String(v) : v.toFixed(3)) : JSON.stringify(v);
  const el = (tag, attrs, text) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const svgEl = (tag, attrs, text) => {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const where = () => `shot=${S.shot}&t=${S.t}`;
  const shotInfo = () => S.state.shots[S.shot];

  // ---- header: pictures and seeking ----------------------------------------------------
  function renderShots() {
    const nav = $("shots");
    nav.replaceChildren();
    S.state.shots.forEach((s) => {
      const b = el("button", { type: "button", "data-shot": s.index },
                   `${s.name} (${s.size[0]}x${s.size[1]}${s.kind === "video" ? `, ${s.duration} s` : ""})`);
      if (s.index === S.shot) b.classList.add("on");
      b.addEventListener("click", () => { S.shot = s.index; S.t = 0; renderShots(); showFrame(); });
      nav.append(b);
    });
    const v = shotInfo();
    $("seek").hidden = v.kind !== "video";
    if (v.kind === "video") {
      const step = v.fps ? 1 / v.fps : 0.001;
      for (const id of ["t-range", "t-num"]) { $(id).max = v.duration; $(id).step = step; $(id).value = S.t; }
    }
  }
  function seek(t) {
    const v = shotInfo();
    S.t = Math.max(0, Math.min(Number(t) || 0, v.duration));
    $("t-range").value = S.t; $("t-num").value = S.t;
    showFrame();
  }
  $("t-range").addEventListener("change", (e) => seek(e.target.value));
  $("t-num").addEventListener("change", (e) => seek(e.target.value));
  $("t-prev").addEventListener("click", () => seek(S.t - 1 / (shotInfo().fps || 30)));
  $("t-next").addEventListener("click", () => seek(S.t + 1 / (shotInfo().fps || 30)));

  // ---- the frame and its boxes ---------------------------------------------------------
  function showFrame() {
    $("frame-img").setAttribute("href", `/api/frame?${where()}`);
    S.box = null; $("drag").setAttribute("visibility", "hidden"); $("pick").setAttribute("visibility", "hidden");
    refresh();
  }
  function drawBoxes(run) {
    const g = $("regions"), st = $("stepboxes");
    g.replaceChildren(); st.replaceChildren();
    for (const r of run.regions) {
      r.boxes.forEach((b, i) => {
        const name = r.boxes.length > 1 ? `${r.name}[${i}]` : r.name;
        const rect = svgEl("rect", { class: "region", x: b[0], y: b[1], width: b[2], height: b[3],
                                     "data-region": r.name, "data-index": i });
        rect.append(svgEl("title", {}, `region ${name} (anchor ${r.anchor}): frame ${b.join(",")}`));
        g.append(rect, svgEl("text", { class: "region", x: b[0], y: Math.max(18, b[1] - 4) }, name));
      });
    }
    for (const p of run.processors) {
      for (const s of p.steps) {
        s.boxes.forEach((b) => {
          const key = `${p.name}.${s.step}`;
          const rect = svgEl("rect", { class: `stepbox st-${s.status}`, x: b[0], y: b[1], width: b[2], height: b[3],
                                       "data-key": key });
          rect.append(svgEl("title", {}, `${key} (${s.kind}, ${s.status}): ${fmt(s.value)}`));
          st.append(rect, svgEl("text", { class: "stepbox", x: b[0], y: Math.min(1076, b[1] + b[3] + 20) },
                                `${key} = ${fmt(s.value)}`));
        });
      }
    }
  }
  for (const [box, cls] of [["show-regions", "noregions"], ["show-steps", "nosteps"], ["show-labels", "nolabels"]]) {
    $(box).addEventListener("change", (e) => $("frame").classList.toggle(cls, !e.target.checked));
  }

  // ---- the run: answer, processors, steps ----------------------------------------------
  function renderRun(run) {
    S.run = run;
    document.body.classList.toggle("stale", run.errors.length > 0);
    $("run-meta").textContent = `game version ${run.version || "-"} · file save #${run.good_generation} · ${run.ms} ms`;
    $("objects").textContent = JSON.stringify(run.objects, null, 1);
    const box = $("processors");
    box.replaceChildren();
    for (const p of run.processors) {
      const div = el("div", { class: "proc", "data-processor": p.name });
      const h = el("h3", {}, p.name);
      h.append(el("span", { class: `chip st-${p.status === "ran" ? (p.hit ? "hit" : "miss") : p.status}` },
                  p.status === "ran" ? (p.hit ? "hit" : "ran, no hit") : p.status));
      if (p.reason) h.append(el("span", { class: "muted" }, p.reason));
      if (p.error) h.append(el("span", { class: "reason" }, JSON.stringify(p.error)));
      h.append(el("span", { class: "muted small" }, `${p.ms} ms`));
      div.append(h);
      if (p.steps.length) {
        const t = el("table", { class: "steps" });
        const head = el("tr");
        head.append(...["step", "crop / prepared", "value", "null reason"].map((x) => el("th", {}, x)));
        t.append(head);
        for (const s of p.steps) {
          const key = `${p.name}.${s.step}`;
          const tr = el("tr", { "data-key": key });
          const name = el("td", { class: "name" }, `${s.step} `);
          name.append(el("span", { class: `chip st-${s.status}` }, `${s.kind} ${s.status}`));
          const imgs = el("td", { class: "img" });
          let shown;
          if (s.box_prepared.length) {  // each box: its crop, then its prepared image
            shown = s.box_crops.flatMap((u, i) => [[u, `box ${i} crop`], [s.box_prepared[i], `box ${i} prepared`]]);
          } else if (s.box_crops.length) {
            shown = [...s.box_crops.map((u, i) => [u, `box ${i} crop`]), [s.prepared, "prepared (last box)"]];
          } else {
            shown = [[s.crop, "crop"], [s.prepared, "prepared"]];
          }
          for (const [uri, what] of shown) {
            if (uri) imgs.append(el("img", { src: uri, alt: `${key} ${what}`, title: `${key} ${what}` }));
          }
          if (!imgs.children.length) imgs.append(el("span", { class: "muted" }, "–"));
          const value = el("td");
          value.append(el("div", { class: "value" }, fmt(s.value)),
                       el("div", { class: "muted small" },
                          `score ${fmt(s.score)}${s.threshold !== null ? " / " + fmt(s.threshold) : ""}` +
                          ` · conf ${fmt(s.confidence)} · ${s.ms} ms`));
          const reason = el("td", { class: "reason" }, s.reason || "");
          const d = el("details");  // the step as --explain prints it
          d.append(el("summary", {}, "explain"), el("pre", {}, JSON.stringify(s.explain, null, 1)));
          reason.append(d);
          tr.append(name, imgs, value, reason);
          tr.addEventListener("mouseenter", () => hot(key, true));
          tr.addEventListener("mouseleave", () => hot(key, false));
          t.append(tr);
        }
        div.append(t);
      }
      box.append(div);
    }
    drawBoxes(run);
  }
  function hot(key, on) {
    document.querySelectorAll(`#stepboxes rect[data-key="${CSS.escape(key)}"]`).forEach((r) => r.classList.toggle("hot", on));
  }
  function renderErrors(state) {
    $("errors").hidden = state.errors.length === 0;
    $("error-list").replaceChildren(...state.errors.map((e) => {
      const li = el("li");
      li.append(el("code", { class: "located" }, e.text));
      if (e.context) {  // the lines around it, the error's own marked, a caret under its column
        const pre = el("pre", { class: "context" });
        for (const c of e.context) {
          const line = el("span", { class: c.line === e.line ? "here" : "" }, `${String(c.line).padStart(4)} | ${c.text}\n`);
          pre.append(line);
          if (c.line === e.line && e.col) pre.append(el("span", { class: "caret" }, `${" ".repeat(6 + e.col)}^\n`));
        }
        li.append(pre);
      }
      return li;
    }));
  }
  function renderState(state) {
    S.state = state;
    $("game").textContent = `${state.game} v${state.version || "-"}`;
    $("file").textContent = state.file;
    renderErrors(state);
  }

  // ---- stress variants -------------------------------------------------------------------
  function renderStress(doc) {
    S.stress = doc;
    $("stress-meta").textContent = `right values from ${doc.expected_from}` +
      (doc.expected_from.startsWith("sample") ? "" : " (marked wrong: a different read)");
    const t = el("table", { class: "stress" });
    const head = el("tr"), thumbs = el("tr");
    head.append(el("th", {}, "field"), el("th", {}, "expected"));
    thumbs.append(el("td"), el("td"));
    for (const v of doc.variants) {
      head.append(el("th", { title: v.help, "data-variant": v.name }, `${v.name} (${v.wrong} wrong, ${v.null} null)`));
      const td = el("td");
      td.append(el("img", { src: v.thumb, alt: v.name, title: v.help }));
      thumbs.append(td);
    }
    t.append(head, thumbs);
    for (const k of doc.keys) {
      const tr = el("tr", { "data-key": k });
      tr.append(el("td", {}, k), el("td", {}, fmt(doc.expected[k])));
      for (const v of doc.variants) {
        const r = v.reads[k];
        tr.append(el("td", { class: `mark-${r.mark}`, title: r.mark }, fmt(r.value)));
      }
      t.append(tr);
    }
    $("stress-table").replaceChildren(t);
  }

  // ---- refresh: one run (and then its stress reads) for the shown frame -------------------
  let asked = 0;
  async function refresh() {
    const mine = ++asked;
    $("status").textContent = "running…";
    try {
      const run = await getJSON(`/api/run?${where()}`);
      if (mine !== asked) return;
      renderState(run);
      renderRun(run);
      S.generation = Math.max(S.generation, run.generation);
      S.runs += 1;
      S.renderedAt = Date.now();  // bench/studio_reload.py: save-to-page time
      $("status").textContent = run.errors.length ?
        `save #${run.generation} has errors; showing the run of save #${run.good_generation}` :
        `save #${run.generation} ran in ${run.ms} ms`;
      $("stress-table").replaceChildren(el("p", { class: "muted" }, "reading the other captures…"));
      const stress = await getJSON(`/api/stress?${where()}`);
      if (mine === asked && !stress.superseded) renderStress(stress);
    } catch (e) {
      if (mine === asked) $("status").textContent = `failed: ${e.message}`;
    }
  }

  // ---- watching the game file: a long poll that returns when it was saved ------------------
  async function watch() {
    for (;;) {
      try {
        const state = await getJSON(`/api/wait?since=${S.generation}`);
        if (state.generation !== S.generation) {
          S.generation = state.generation;
          renderState(state);
          await refresh();
        }
      } catch (e) {
        $("status").textContent = `lost the studio (${e.message}); retrying…`;
        await new Promise((ok) => setTimeout(ok, 1000));
      }
    }
  }

  // ---- pixel click and box drag ------------------------------------------------------------
  const svg = $("frame");
  function framePoint(ev) {
    const p = svg.createSVGPoint();
    p.x = ev.clientX; p.y = ev.clientY;
    const q = p.matrixTransform(svg.getScreenCTM().inverse());
    return [Math.max(0, Math.min(1919, Math.floor(q.x))), Math.max(0, Math.min(1079, Math.floor(q.y)))];
  }
  let start = null;
  svg.addEventListener("mousedown", (ev) => {
    if (ev.button !== 0) return;
    ev.preventDefault();
    start = framePoint(ev);
  });
  svg.addEventListener("mousemove", (ev) => {
    if (!start) return;
    const [x, y] = framePoint(ev);
    const d = $("drag");
    d.setAttribute("x", Math.min(x, start[0])); d.setAttribute("y", Math.min(y, start[1]));
    d.setAttribute("width", Math.abs(x - start[0])); d.setAttribute("height", Math.abs(y - start[1]));
    d.setAttribute("visibility", "visible");
  });
  window.addEventListener("mouseup", (ev) => {
    if (!start) return;
    const [x, y] = framePoint(ev), [x0, y0] = start;
    start = null;
    if (Math.abs(x - x0) < 3 && Math.abs(y - y0) < 3) { $("drag").setAttribute("visibility", "hidden"); pick(x0, y0); return; }
    S.box = [Math.min(x, x0), Math.min(y, y0), Math.abs(x - x0) + 1, Math.abs(y - y0) + 1];
    measure();
  });
  async function pick(x, y) {
    const c = $("pick");
    c.setAttribute("cx", x + 0.5); c.setAttribute("cy", y + 0.5); c.setAttribute("visibility", "visible");
    try {
      const p = await getJSON(`/api/pixel?${where()}&x=${x}&y=${y}`);
      S.pixel = p;
      const out = $("pixel");
      out.classList.remove("muted");
      out.dataset.hsv = p.hsv.join(","); out.dataset.bgr = p.bgr.join(",");
      out.textContent = `(${p.x}, ${p.y}) BGR ${p.bgr.join(", ")} · HSV ${p.hsv.join(", ")}`;
    } catch (e) { $("pixel").textContent = `failed: ${e.message}`; }
  }
  // The anchor a dragged box is written with: the user's pick, else that of the region under
  // the box's centre (a box redrawn around a HUD element sticks where the element sticks).
  let anchorPicked = false;
  function regionUnder(box) {
    const cx = box[0] + box[2] / 2, cy = box[1] + box[3] / 2;
    for (const r of (S.run ? S.run.regions : [])) {
      if (r.boxes.some((b) => cx >= b[0] && cx < b[0] + b[2] && cy >= b[1] && cy < b[1] + b[3])) return r;
    }
    return null;
  }
  async function measure() {
    if (!S.box) return;
    const under = regionUnder(S.box);
    if (!anchorPicked && under) $("anchor").value = under.anchor;
    try {
      const m = await getJSON(`/api/box?${where()}&box=${S.box.join(",")}&anchor=${encodeURIComponent($("anchor").value)}`);
      S.measured = m;
      const y = $("boxyaml");
      y.classList.remove("muted");
      y.textContent = m.yaml;
      $("copy").disabled = false;
      $("boxframe").textContent = `frame pixels ${m.box.join(",")}; written back it lands on ${m.lands.join(",")}` +
        (under ? ` · inside region ${under.name} (anchor ${under.anchor})` : "");
      renderProbe(m.probe);
    } catch (e) { $("boxyaml").textContent = `failed: ${e.message}`; }
  }
  function renderProbe(p) {
    const t = el("table");
    const head = el("tr");
    head.append(el("th", {}, "channel"), ...p.percentiles.map((q) => el("th", {}, `p${q}`)));
    t.append(head);
    for (const [c, vals] of Object.entries(p.channels)) {
      const tr = el("tr");
      tr.append(el("td", {}, c), ...vals.map((v) => el("td", {}, String(v))));
      t.append(tr);
    }
    const lines = [`ink ${p.ink_bright ? "brighter" : "darker"} than its background, ${(p.ink_share * 100).toFixed(1)}% of the box, Otsu level ${p.otsu}`,
      p.inrange ? `${p.inrange.yaml}  (keeps ${(p.inrange.ink_kept * 100).toFixed(1)}% of the ink, ${(p.inrange.background_kept * 100).toFixed(1)}% of the background)` : "no ink told apart",
      `ink boxes: ${p.ink_boxes.map((b) => b.join(",")).join("  ") || "none"}${p.ink_bounds ? "; bounds " + p.ink_bounds.join(",") : ""}`];
    $("probe").replaceChildren(t, ...lines.map((l) => el("div", {}, l)));
  }
  $("anchor").addEventListener("change", () => { anchorPicked = true; measure(); });
  $("copy").addEventListener("click", async () => {
    const text = $("boxyaml").textContent;
    try { await navigator.clipboard.writeText(text); $("copy").textContent = "copied"; }
    catch (e) { // no clipboard (a page not on localhost, or denied): select the text instead
      const range = document.createRange(); range.selectNodeContents($("boxyaml"));
      const sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);
      $("copy").textContent = "selected: press Ctrl+C";
    }
    setTimeout(() => { $("copy").textContent = "copy"; }, 1500);
  });

  // ---- start ---------------------------------------------------------------------------
  (async () => {
    try {
      const state = await getJSON("/api/state");
      renderState(state);
      S.generation = state.generation;
      $("anchor").replaceChildren(...state.anchors.map((a) => el("option", { value: a }, a)));
      $("anchor").value = "center";
      renderShots();
      showFrame();
      watch();
    } catch (e) { $("status").textContent = `failed to start: ${e.message}`; }
  })();
})();
