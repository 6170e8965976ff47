/* Station touch UI: one small state renderer.
 *
 * The server sends a view model (kiosk/web/station/view.py) by server-sent events whenever the
 * runtime's state changes; if the stream breaks, /station/state is polled until it is back.
 * A few screens are local to the browser (welcome, check-in, how-to, the "next jump" preview,
 * the summary); everything else follows the runtime's state. An idle timer ends the visit and
 * wipes the screen, so the next person never sees the last athlete's name or result.
 */
(function () {
  "use strict";
  const boot = JSON.parse(document.getElementById("boot").textContent);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (sel) => document.querySelector(sel);
  const $$ = (sel) => Array.from(document.querySelectorAll(sel));

  let view = { state: "idle", seq: -1 };
  let local = { screen: "welcome", howtoDone: false, nextShown: 0, summary: false, number: "" };
  let lastTouch = Date.now();
  let currentScreen = "";

  // ---------- server I/O ----------
  async function post(url, body) {
    const resp = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body || {}),
      credentials: "same-origin",
    });
    let data = {};
    try { data = await resp.json(); } catch (e) { /* empty body */ }
    if (!resp.ok) throw new Error(data.error || ("The station did not answer (" + resp.status + ")."));
    return data;
  }

  function accept(v) {
    if (!v || typeof v.seq === "undefined") return;
    if (v.seq === view.seq && v.state === view.state) return;
    const prevState = view.state;
    view = v;
    if (v.state !== prevState) lastTouch = Date.now();
    render();
  }

  let source = null, pollTimer = null;
  function connect() {
    if (!window.EventSource) { startPolling(); return; }
    source = new EventSource("/station/events?since=" + encodeURIComponent(view.seq));
    source.addEventListener("state", (ev) => { stopPolling(); $("#offline").hidden = true; accept(JSON.parse(ev.data)); });
    source.onerror = () => { startPolling(); };
  }
  function startPolling() {
    if (pollTimer) return;
    pollTimer = setInterval(async () => {
      try {
        const r = await fetch("/station/state", { cache: "no-store" });
        if (r.redirected || !r.ok) throw new Error("bad");
        $("#offline").hidden = true;
        accept(await r.json());
      } catch (e) { $("#offline").hidden = false; }
    }, 1000);
  }
  function stopPolling() { if (pollTimer) { clearInterval(pollTimer); pollTimer = null; } }

  // ---------- which screen ----------
  function screenFor() {
    if (view.fault) return "fault";
    const s = view.state;
    if (s === "idle" || !view.athlete) return (local.screen === "checkin") ? "checkin" : "welcome";
    if (s === "ready") return local.howtoDone ? "ready" : "howto";
    if (s === "countdown") return "countdown";
    if (s === "awaiting_landing") return "stepoff";
    if (s === "contact" || s === "flight" || s === "landed") return "jump";
    if (s === "analysing") return "analysing";
    if (s === "result") {
      if (local.summary && view.session && view.session.complete) return "summary";
      if (local.nextShown === resultKey()) return "ready";
      return "result";
    }
    return "welcome";
  }
  // One key per result shown, stable while it stays on screen: the visit's trial count, not the
  // snapshot's seq (that moves on with every mat edge or visibility change while the result
  // shows, which flipped "Next jump" back to the result).
  function resultKey() {
    return view.result ? (view.session ? view.session.trials.length : 0) + ":" + (view.trial ? view.trial.number : 0) : "";
  }

  function show(name) {
    if (name === currentScreen) return;
    currentScreen = name;
    $$(".screen").forEach((el) => el.classList.toggle("active", el.id === "s-" + name));
    document.getElementById("app").dataset.screen = name;
    if (name === "ready") startPreview(); else stopPreview();
    if (name === "howto") startHowto(); else stopHowto();
    if (name !== "result") stopReplay();
    if (name === "checkin") setTimeout(() => $("#name-q").focus(), 50);
  }

  // ---------- render ----------
  function text(el, s) { if (el) el.textContent = s == null ? "" : String(s); }
  function trialLabel() {
    const t = view.trial || {};
    // Back on the box after a result: the runtime still shows that result; the label is the next jump's.
    if (view.state === "result" && local.nextShown === resultKey()) return "Jump " + t.next_number + " of " + t.of;
    return t.label || "";
  }
  function render() {
    const name = view.athlete ? view.athlete.name : "";
    $$('[data-bind="hello"]').forEach((el) => text(el, name ? "Hi " + name : ""));
    $$('[data-bind="name-comma"]').forEach((el) => text(el, name ? ", " + name : ""));
    $$('[data-bind="prompt"]').forEach((el) => text(el, view.prompt || ""));
    $$('[data-bind="trial"]').forEach((el) => text(el, view.athlete ? trialLabel() : ""));
    if (view.fault) {
      text($("#fault-title"), view.fault.title);
      text($("#fault-help"), view.fault.help);
      text($("#fault-detail"), view.fault.detail);
    }
    if (view.state === "countdown") startCountdown(); else stopCountdown();
    const bar = document.querySelector(".progress");
    if (view.progress != null) {
      // real progress: frames posed of the frames the analysis planned
      bar.classList.remove("indeterminate");
      $("#progress-fill").style.width = Math.round(view.progress * 100) + "%";
      bar.setAttribute("aria-valuenow", String(Math.round(view.progress * 100)));
    }
    else { bar.classList.add("indeterminate"); }
    if (view.result) renderResult(view.result);
    if (view.session) renderSummary(view.session);
    if (view.state === "idle" || !view.athlete) { if (currentScreen !== "checkin") wipe(); }
    show(screenFor());
  }

  function verdictBox(box, use, word, sub, verdict, words) {
    box.className = "verdict v-" + verdict;
    use.setAttribute("href", "#i-" + verdict.toLowerCase());
    text(word, verdict);
    text(sub, words);
  }

  function el(tag, cls, txt) { const e = document.createElement(tag); if (cls) e.className = cls; if (txt != null) e.textContent = txt; return e; }
  function fmt(m) { return m.value == null ? "–" : (m.value + (m.unit || "")); }
  function rangeText(m) {
    if (m.high != null && m.low == null) return "normal: up to " + m.high + (m.unit || "");
    if (m.low != null && m.high == null) return "normal: " + m.low + (m.unit || "") + " or more";
    if (m.low != null && m.high != null) return "normal: " + m.low + "–" + m.high + (m.unit || "");
    return "";
  }
  function metricRow(m) {
    const row = el("div", "metric st-" + m.status);
    row.append(el("span", "lbl", m.label), el("span", "val", fmt(m)));
    const r = el("span", "range");
    if (m.status !== "info") { r.append(el("span", "mark"), document.createTextNode(" · " + rangeText(m))); }
    row.append(r);
    return row;
  }

  let renderedResult = "";
  function renderResult(r) {
    const key = resultKey() + (r.freeze_url ? ":m" : "");   // drawn again once its pictures exist
    const last = view.session && view.session.complete;
    $("#next-btn").textContent = last ? "See my summary" : view.trial.next_label;
    if (key === renderedResult) return;
    renderedResult = key;
    verdictBox($("#verdict"), $("#verdict-use"), $("#verdict-word"), $("#verdict-sub"), r.verdict, r.words + (r.borderline ? " (borderline)" : ""));
    const reasons = $("#reasons"); reasons.replaceChildren(...r.reasons.map((s) => el("li", null, s)));
    const replay = r.replay_urls || [];
    $("#result-media").hidden = !r.freeze_url && !replay.length;
    $("#freeze").closest("figure").hidden = !r.freeze_url;
    $("#replay").closest("figure").hidden = !replay.length;
    if (r.freeze_url) $("#freeze").src = r.freeze_url;
    if (replay.length) startReplay(replay, r.replay_fps || 8);
    const legs = $("#legs"); legs.replaceChildren();
    if (r.legs) {
      for (const side of ["left", "right"]) {
        const L = r.legs[side];
        const box = el("div", "leg");
        box.append(el("h3", null, L.label + " (" + L.short + ")"));
        L.metrics.forEach((m) => box.append(metricRow(m)));
        legs.append(box);
      }
    }
    const both = $("#both"); both.replaceChildren();
    both.hidden = !(r.both && r.both.length);
    (r.both || []).forEach((m) => both.append(metricRow(m)));
    renderGuidance($("#guidance"), r.guidance);
  }

  // Guidance from kiosk/analysis/guidance.json: what it means, 2-3 exercises, when to see a professional.
  function renderGuidance(box, g) {
    box.replaceChildren();
    if (!g) return;
    const items = g.items || [];
    const meaning = el("div", "gbox");
    meaning.append(el("h3", null, "What it means"));
    if (g.flag_meaning) meaning.append(el("p", null, g.flag_meaning));
    items.forEach((it) => { const p = el("p"); p.append(el("strong", null, it.title + ". "), document.createTextNode(it.meaning)); meaning.append(p); });
    if (meaning.childNodes.length > 1) box.append(meaning);
    const seen = new Set(), ex = [];
    items.forEach((it) => (it.exercises || []).forEach((x) => { if (!seen.has(x.name)) { seen.add(x.name); ex.push(x); } }));
    if (ex.length) {
      const b = el("div", "gbox"); b.append(el("h3", null, "Try these"));
      const ul = el("ul");
      ex.slice(0, 3).forEach((x) => {
        const li = el("li"); li.append(el("strong", null, x.name));
        const how = [x.how, x.dose].filter(Boolean).join(" ");
        if (how) li.append(el("span", "how", " – " + how));
        ul.append(li);
      });
      b.append(ul);
      if ((g.cues || []).length) b.append(el("p", "how", "Cues: " + g.cues.join(" ")));
      box.append(b);
    }
    const pro = g.see_professional || [];
    const refer = items.some((it) => it.professional);
    if (pro.length) {
      const b = el("div", "gbox" + (refer ? " refer" : ""));
      b.append(el("h3", null, refer ? "Please see a physio or doctor" : "See a physio or doctor if"));
      const ul = el("ul"); pro.forEach((p) => ul.append(el("li", null, p))); b.append(ul); box.append(b);
    }
    if (g.disclaimer) box.append(el("p", "how", g.disclaimer));
  }

  function renderSummary(s) {
    const v = (s.verdict || "RETAKE").toUpperCase();
    const words = s.words || (v === "PASS" ? "Good knee control over your jumps" : v === "FLAG" ? "Knees moved inward: worth coaching" : "Not enough good jumps to judge");
    verdictBox($("#summary-verdict"), $("#summary-use"), $("#summary-word"), $("#summary-sub"), v, words);
    const ol = $("#summary-trials"); ol.replaceChildren();
    s.trials.forEach((t) => {
      const li = el("li", "v-" + t.verdict);
      const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg"); svg.setAttribute("aria-hidden", "true");
      const use = document.createElementNS("http://www.w3.org/2000/svg", "use"); use.setAttribute("href", "#i-" + t.verdict.toLowerCase());
      svg.append(use); li.append(svg, document.createTextNode("Jump " + t.n + ": " + t.verdict));
      ol.append(li);
    });
    renderGuidance($("#summary-guidance"), s.guidance || null);
  }

  // ---------- countdown: the runtime counts; each update re-syncs the page to its seconds left ----------
  let countTimer = null, countEnd = 0;
  function startCountdown() {
    const left = (view.countdown != null) ? view.countdown : (countTimer ? null : boot.countdown_s);
    if (left != null) countEnd = Date.now() + left * 1000;
    if (countTimer) return;
    const tick = () => text($("#count"), Math.max(1, Math.ceil((countEnd - Date.now()) / 1000)));
    tick(); countTimer = setInterval(tick, 100);
  }
  function stopCountdown() { if (countTimer) { clearInterval(countTimer); countTimer = null; } }

  // ---------- live preview (JPEG polling, ~10 fps, only while visible) ----------
  let previewOn = false;
  function startPreview() {
    if (previewOn) return; previewOn = true;
    const img = $("#preview");
    const next = () => { if (previewOn) setTimeout(load, 100); };
    const load = () => { if (!previewOn) return; img.src = "/station/preview.jpg?t=" + Date.now(); };
    img.onload = next; img.onerror = () => { if (previewOn) setTimeout(load, 500); };
    load();
  }
  function stopPreview() { previewOn = false; }

  // ---------- flipbooks: how-to loop and slow-motion replay ----------
  function flipbook(img, urls, fps, loop) {
    let i = 0, timer = null;
    urls.forEach((u) => { const p = new Image(); p.src = u; });   // preload
    const step = () => { img.src = urls[i]; i += 1; if (i >= urls.length) { if (!loop) { i = 0; } else { i = 0; } } };
    if (urls.length) { step(); timer = setInterval(step, 1000 / fps); }
    return () => clearInterval(timer);
  }
  let howtoStop = null, replayStop = null;
  async function startHowto() {
    if (howtoStop) return;
    howtoStop = () => {};
    try {
      const r = await fetch("/station/howto.json", { cache: "no-store" });
      const info = await r.json();
      const urls = Array.from({ length: info.count }, (_, i) => "/station/howto/" + i + ".jpg");
      if (howtoStop && currentScreen === "howto") howtoStop = flipbook($("#howto-img"), urls, info.fps, true);
    } catch (e) { /* the steps text still explains it */ }
  }
  function stopHowto() { if (howtoStop) { howtoStop(); howtoStop = null; } }
  function startReplay(urls, fps) { stopReplay(); replayStop = flipbook($("#replay"), urls, fps, true); }
  function stopReplay() { if (replayStop) { replayStop(); replayStop = null; } }

  // ---------- privacy wipe ----------
  function wipe() {
    renderedResult = "";
    ["#reasons", "#legs", "#both", "#guidance", "#summary-trials", "#summary-guidance", "#roster"].forEach((s) => $(s).replaceChildren());
    ["#freeze", "#replay", "#preview"].forEach((s) => $(s).removeAttribute("src"));
    $("#name-q").value = ""; $("#new-name").value = ""; $("#consent").checked = false;
    local.number = ""; text($("#num-out"), ""); text($("#checkin-error"), "");
    $$('[data-bind]').forEach((e) => { e.textContent = ""; });
    local.howtoDone = false; local.nextShown = 0; local.summary = false;
  }

  // ---------- check-in ----------
  function setTab(tab) {
    $$(".tab").forEach((t) => t.setAttribute("aria-selected", String(t.dataset.tab === tab)));
    $$(".pane").forEach((p) => { p.hidden = p.dataset.pane !== tab; });
    text($("#checkin-error"), "");
  }
  let searchSeq = 0;
  async function search() {
    const q = $("#name-q").value.trim();
    const list = $("#roster");
    if (q.replace(/\s/g, "").length < 2) { list.replaceChildren(el("li", "hint", "Keep typing: your name appears after 2 letters.")); return; }
    const mine = ++searchSeq;
    const r = await fetch("/station/roster?q=" + encodeURIComponent(q), { cache: "no-store" });
    const data = await r.json();
    if (mine !== searchSeq) return;
    if (!data.athletes.length) { list.replaceChildren(el("li", "hint", "No match. Try your number, or \u201cI'm new\u201d.")); return; }
    list.replaceChildren(...data.athletes.map((a) => {
      const li = el("li"); const b = el("button", "btn", a.name + (a.number ? " · " + a.number : ""));
      b.dataset.athleteId = a.id; li.append(b); return li;
    }));
  }
  async function checkIn(body) {
    if (!$("#consent").checked) { text($("#checkin-error"), "Please tick the box below to agree first."); return; }
    body.consent = true;
    try { local.howtoDone = false; accept(await post("/station/check-in", body)); }
    catch (e) { text($("#checkin-error"), e.message); }
  }

  // ---------- actions ----------
  async function act(action, target) {
    switch (action) {
      case "begin": wipe(); local.screen = "checkin"; setTab("name"); search(); show("checkin"); break;
      case "home": local.screen = "welcome"; wipe(); show("welcome"); break;
      case "howto-done": local.howtoDone = true; render(); break;
      case "start":
        target.disabled = true;
        try { await post("/station/start"); } catch (e) { text($('[data-bind="prompt"]'), e.message); }
        finally { target.disabled = false; }
        break;
      case "next":
        if (view.session && view.session.complete) { local.summary = true; }
        else { local.nextShown = resultKey(); }
        render(); break;
      case "cancel": await endVisit(); break;
      case "quick-add": checkIn({ new_name: $("#new-name").value }); break;
    }
  }
  async function endVisit() {
    local.screen = "welcome"; wipe(); show("welcome");
    try { await post("/station/cancel"); } catch (e) { /* the runtime resets itself on its own timeout */ }
  }

  document.addEventListener("click", (ev) => {
    const b = ev.target.closest("button");
    if (!b) return;
    if (b.dataset.action) { act(b.dataset.action, b); return; }
    if (b.dataset.tab) { setTab(b.dataset.tab); if (b.dataset.tab === "name") $("#name-q").focus(); return; }
    if (b.dataset.athleteId) { checkIn({ athlete_id: Number(b.dataset.athleteId) }); return; }
    if (b.dataset.key) {
      const k = b.dataset.key;
      if (k === "del") local.number = local.number.slice(0, -1);
      else if (k === "ok") { if (local.number) checkIn({ number: local.number }); }
      else if (local.number.length < 8) local.number += k;
      text($("#num-out"), local.number);
    }
  });
  $("#name-q").addEventListener("input", () => { search().catch(() => {}); });
  $("#tab-new").hidden = !boot.allow_quick_add;

  // ---------- idle timeout: back to Welcome, screen wiped ----------
  ["pointerdown", "keydown", "input"].forEach((t) => document.addEventListener(t, () => { lastTouch = Date.now(); }, true));
  setInterval(() => {
    if (currentScreen === "welcome" || view.busy) { if (view.busy) lastTouch = Date.now(); return; }
    if (Date.now() - lastTouch > boot.idle_timeout_s * 1000) endVisit();
  }, 1000);

  show("welcome");
  connect();
  startPolling();
})();
