/* Station touch UI: one small state renderer.
 *
 * The server sends a view model (kiosk/web/station/view.py) by server-sent events whenever the
 * runtime's state changes; if the stream breaks, /station/state is polled until it is back.
 * A few screens are local to the browser (welcome, readiness, check-in, about you, how-to, the
 * summary's details); everything else follows the runtime's state. The session is blinded:
 * between jumps the page only ever has "recorded" or a RETAKE's reason to show; the verdict,
 * picture and numbers arrive once, with the summary. An idle timer ends the visit and wipes the
 * screen, so the next person never sees the last athlete's name or result.
 *
 * Touch only: text is typed on the page's own keyboard (simple-keyboard, vendored: no OS
 * keyboard exists on the kiosk). Every button ignores taps for a moment after the screen
 * changes and while its request runs, so a double tap never lands on the next screen's button.
 */
(function () {
  "use strict";
  const boot = JSON.parse(document.getElementById("boot").textContent);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (sel) => document.querySelector(sel);
  const $$ = (sel) => Array.from(document.querySelectorAll(sel));

  let view = { state: "idle", seq: -1 };
  let local = { screen: "welcome", howtoDone: false, aboutDone: false, more: false, number: "", answers: {}, sex: "" };
  let lastTouch = Date.now();
  let currentScreen = "";
  let shownAt = 0;
  const TAP_GUARD_MS = 600;   // a second tap this soon after a screen change belongs to the last screen

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
    if (!resp.ok) { const err = new Error(data.error || ("The station did not answer (" + resp.status + ").")); err.data = data; err.status = resp.status; throw err; }
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
    if (s === "idle" || !view.athlete) {
      return ["readiness", "nottoday", "checkin"].includes(local.screen) ? local.screen : "welcome";
    }
    if (s === "ready") {
      if (view.athlete.ask_about && !local.aboutDone && !(view.session && view.session.attempts)) return "about";
      return local.howtoDone ? "ready" : "howto";
    }
    if (s === "arming") return "arming";
    if (s === "countdown") return "countdown";
    if (s === "awaiting_landing") return "stepoff";
    if (s === "contact" || s === "flight" || s === "landed") return "jump";
    if (s === "analysing") return "analysing";
    if (s === "result") {
      if (view.summary) return local.more ? "more" : "summary";
      return "between";
    }
    return "welcome";
  }

  function show(name) {
    if (name === currentScreen) return;
    currentScreen = name;
    shownAt = Date.now();
    $$(".screen").forEach((el) => el.classList.toggle("active", el.id === "s-" + name));
    const app = document.getElementById("app");
    app.dataset.screen = name;
    app.dataset.tappable = "0";   // taps count again after TAP_GUARD_MS (tests wait on this)
    setTimeout(() => { if (currentScreen === name) app.dataset.tappable = "1"; }, TAP_GUARD_MS);
    if (name === "ready" || name === "arming") startPreview(); else stopPreview();
    if (name === "howto") startHowto(); else stopHowto();
    if (name !== "more") stopReplay();
    if (name === "checkin") attachKeyboard(activeTextInput());
    if (name === "about") attachKeyboard($("#birth-year"));
    if (name === "stepoff") beep(880, 0.45);
    requestAnimationFrame(fitFrames);
  }

  // ---------- render ----------
  function text(el, s) { if (el) el.textContent = s == null ? "" : String(s); }
  function el(tag, cls, txt) { const e = document.createElement(tag); if (cls) e.className = cls; if (txt != null) e.textContent = txt; return e; }
  function trialLabel() {
    const t = view.trial || {};
    if (view.state === "ready" || view.state === "result") return t.next_label || t.label || "";
    return t.label || "";
  }
  function render() {
    const name = view.athlete ? view.athlete.name : "";
    $$('[data-bind="hello"]').forEach((e) => text(e, name ? "Hi " + name : ""));
    $$('[data-bind="prompt"]').forEach((e) => text(e, view.prompt || ""));
    $$('[data-bind="next-prompt"]').forEach((e) => text(e, view.next_prompt || ""));
    $$('[data-bind="trial"]').forEach((e) => text(e, view.athlete ? trialLabel() : ""));
    $("#minor-note").hidden = !(view.athlete && view.athlete.minor);
    $("#practice-note").hidden = !(view.trial && view.trial.practice);
    $("#button-hint").hidden = !boot.has_button;
    $$("[data-bind-outcome]").forEach((box) => renderOutcome(box, view.state === "ready" ? view.outcome : null, false));
    renderOutcome($("#between-outcome"), view.outcome, true);
    if (view.fault) {
      text($("#fault-title"), view.fault.title);
      text($("#fault-help"), view.fault.help);
      text($("#fault-detail"), view.fault.detail);
    }
    if (view.state === "countdown") startCountdown(); else stopCountdown();
    text($("#arming-left"), view.state === "arming" && view.arming_s != null ? "Waiting " + view.arming_s + " more seconds" : "");
    const bar = $(".progress");
    const p = view.progress;
    // Posed frames are most of the work; the last few percent (scoring) show as still working.
    bar.classList.toggle("indeterminate", p == null || p >= 0.97);
    if (p != null) $("#progress-fill").style.width = Math.round(p * 100) + "%";
    if (view.summary) renderSummary(view.summary);
    show(screenFor());
  }

  // What the last jump meant for the session: counted, practice, or why it did not count.
  function renderOutcome(box, o, big) {
    box.replaceChildren();
    box.hidden = !o;
    if (!o) return;
    box.className = "outcome" + (big ? " big-outcome" : "") + " o-" + o.kind;
    if (o.kind === "retake") {
      box.append(el("p", "otitle", "That jump did not count"), el("p", "oreason", o.reason || ""),
        el("p", "oleft", (o.tries_left === 1 ? "1 try" : o.tries_left + " tries") + " left for " +
          (o.still_needed === 1 ? "1 more jump." : o.still_needed + " more jumps.")));
    } else if (o.kind === "practice") {
      box.append(el("p", "otitle", "Practice jump done"));
      if (o.reason) box.append(el("p", "oreason", "For the next ones: " + o.reason));
      box.append(el("p", "oleft", "Now the " + (view.session ? view.session.needed : boot.trials) + " jumps that count."));
    } else {
      box.append(el("p", "otitle", "\u2713 Jump " + o.number + " of " + o.of + " recorded"));
    }
  }

  function verdictBox(box, use, word, sub, verdict, words) {
    const v = verdict === "INCOMPLETE" ? "RETAKE" : verdict;
    box.className = "verdict v-" + v;
    use.setAttribute("href", "#i-" + v.toLowerCase());
    text(word, verdict === "INCOMPLETE" ? "No result" : verdict);
    text(sub, words);
  }

  let renderedSummary = "";
  function renderSummary(s) {
    const key = JSON.stringify([s.verdict, s.picture && s.picture.url, s.measures.length]);
    if (key === renderedSummary) return;
    renderedSummary = key;
    verdictBox($("#summary-verdict"), $("#summary-use"), $("#summary-word"), $("#summary-sub"), s.verdict, s.words + (s.borderline ? " (close to a limit)" : ""));
    text($("#summary-median"), s.median || "");
    $("#summary-figure").hidden = !s.picture;
    if (s.picture) { $("#summary-img").src = s.picture.url; text($("#summary-caption"), s.picture.caption); }
    const table = $("#measures"); table.replaceChildren();
    if (s.measures.length) {
      const head = el("tr"); head.append(el("th", null, "Measure"));
      s.jumps.forEach((j) => head.append(el("th", null, j)));
      head.append(el("th", "mid", "Middle"), el("th", null, "Limit"));
      table.append(head);
      s.measures.forEach((m) => {
        const tr = el("tr", "st-" + m.status); tr.append(el("td", null, m.label));
        m.jumps.forEach((v) => tr.append(el("td", "num", v == null ? "\u2013" : v + m.unit)));
        tr.append(el("td", "num mid", m.middle == null ? "\u2013" : m.middle + m.unit), el("td", "lim", m.limit));
        table.append(tr);
      });
    }
    text($("#limit-why"), s.limit_why ? "Limit used: " + s.limit_why + "." : "");
    $("#more-media").hidden = !s.replay;
    renderGuidance($("#summary-guidance"), s.guidance || null);
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
        if (how) li.append(el("span", "how", " \u2013 " + how));
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

  // ---------- sound: the countdown heard from the box (the screen's own speaker) ----------
  let audio = null;
  function unlockAudio() {
    try {
      if (!audio) audio = new (window.AudioContext || window.webkitAudioContext)();
      if (audio.state === "suspended") audio.resume();
    } catch (e) { audio = null; }
  }
  function beep(freq, seconds) {
    if (!audio) return;
    try {
      const o = audio.createOscillator(), g = audio.createGain();
      o.frequency.value = freq; g.gain.value = 0.25;
      o.connect(g); g.connect(audio.destination);
      o.start(); o.stop(audio.currentTime + seconds);
    } catch (e) { /* no sound device: the screen still counts */ }
  }

  // ---------- countdown: the runtime counts; each update re-syncs the page to its seconds left ----------
  let countTimer = null, countEnd = 0, lastShown = null;
  function startCountdown() {
    const left = (view.countdown != null) ? view.countdown : (countTimer ? null : boot.countdown_s);
    if (left != null) countEnd = Date.now() + left * 1000;
    if (countTimer) return;
    lastShown = null;
    const tick = () => {
      const n = Math.max(1, Math.ceil((countEnd - Date.now()) / 1000));
      if (n !== lastShown) { lastShown = n; text($("#count"), n); beep(660, 0.12); }
    };
    tick(); countTimer = setInterval(tick, 100);
  }
  function stopCountdown() { if (countTimer) { clearInterval(countTimer); countTimer = null; } }

  // ---------- live preview (JPEG polling, ~10 fps, only while visible), scaled to its box ----------
  let previewOn = false;
  function startPreview() {
    if (previewOn) return; previewOn = true;
    const imgs = $$(".preview");
    let n = 0;
    const next = () => { if (previewOn) setTimeout(load, 100); };
    const load = () => {
      if (!previewOn) return;
      const img = imgs.find((i) => i.closest(".screen.active")) || imgs[0];
      img.onload = () => { fitFrames(); next(); };
      img.onerror = () => { if (previewOn) setTimeout(load, 500); };
      img.src = "/station/preview.jpg?t=" + Date.now() + "-" + (n++);
    };
    load();
  }
  function stopPreview() { previewOn = false; }
  // The preview and its framing guide share one box of the camera's aspect, as large as fits.
  function fitFrames() {
    $$(".screen.active .frame").forEach((f) => {
      const box = f.parentElement, img = f.querySelector("img");
      const aspect = (img && img.naturalWidth) ? img.naturalWidth / img.naturalHeight : 4 / 3;
      const w = Math.min(box.clientWidth, box.clientHeight * aspect);
      f.style.width = Math.floor(w) + "px"; f.style.height = Math.floor(w / aspect) + "px";
    });
  }
  window.addEventListener("resize", fitFrames);

  // ---------- flipbooks: how-to loop and slow-motion replay ----------
  function flipbook(img, urls, fps) {
    let i = 0;
    urls.forEach((u) => { const p = new Image(); p.src = u; });   // preload
    const step = () => { img.src = urls[i]; i = (i + 1) % urls.length; };
    let timer = null;
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
      if (howtoStop && currentScreen === "howto") howtoStop = flipbook($("#howto-img"), urls, info.fps);
    } catch (e) { /* the steps text still explains it */ }
  }
  function stopHowto() { if (howtoStop) { howtoStop(); howtoStop = null; } }
  function stopReplay() { if (replayStop) { replayStop(); replayStop = null; } }

  // ---------- the on-screen keyboard ----------
  const LAYOUTS = {
    text: { default: ["q w e r t y u i o p {bksp}", "a s d f g h j k l '", "z x c v b n m - {space}"] },
    digits: { default: ["1 2 3 4 5 {bksp}", "6 7 8 9 0"] },
  };
  const keyboards = {};
  let kbTarget = null;
  function keyboardFor(input) {
    const host = input.closest(".screen").querySelector("[data-keyboard]");
    if (!keyboards[host.id]) {
      const Keyboard = window.SimpleKeyboard && (window.SimpleKeyboard.default || window.SimpleKeyboard.SimpleKeyboard);
      if (!Keyboard) return null;
      keyboards[host.id] = new Keyboard("." + host.id, {   // simple-keyboard takes a class name
        layout: LAYOUTS[input.dataset.kb] || LAYOUTS.text,
        display: { "{bksp}": "\u232B delete", "{space}": "space" },
        theme: "hg-theme-default kiosk-kb",
        preventMouseDownDefault: true,
        onChange: (value) => typed(value),
      });
    }
    return keyboards[host.id];
  }
  function attachKeyboard(input) {
    if (!input) return;
    kbTarget = input;
    const kb = keyboardFor(input);
    if (kb) syncKeyboard(kb, input.value);
  }
  function syncKeyboard(kb, value) {
    kb.setInput(value);
    if (kb.setCaretPosition) kb.setCaretPosition(value.length);   // typing goes on at the end
  }
  // The keyboard keeps what was tapped; the field shows it with capital initials (names).
  function typed(value) {
    if (!kbTarget) return;
    let v = value;
    if (kbTarget.dataset.kb === "text") v = v.replace(/(^|[\s-])([a-z])/g, (m, p, c) => p + c.toUpperCase()).replace(/^\s+/, "");
    kbTarget.value = v.slice(0, Number(kbTarget.maxLength) > 0 ? Number(kbTarget.maxLength) : 60);
    kbTarget.dispatchEvent(new Event("input", { bubbles: true }));
  }
  function activeTextInput() {
    const pane = $$("#s-checkin .pane").find((p) => !p.hidden);
    return pane ? pane.querySelector("input[data-kb]") : null;
  }
  // A physical keyboard (a coach's) types into the field too: the on-screen one follows it.
  $$("input[data-kb]").forEach((input) => {
    input.addEventListener("focus", () => attachKeyboard(input));
    // A touch on the field puts typing back at the end (a finger cannot aim a caret between letters).
    input.addEventListener("pointerup", () => setTimeout(() => {
      const n = input.value.length;
      try { input.setSelectionRange(n, n); } catch (e) { /* not a text field */ }
      attachKeyboard(input);
    }, 0));
    input.addEventListener("keyup", () => { const kb = keyboardFor(input); if (kb) syncKeyboard(kb, input.value); });
  });

  // ---------- privacy wipe ----------
  function wipe() {
    renderedSummary = "";
    ["#measures", "#summary-guidance", "#roster", "#isyou-list", "#between-outcome"].forEach((s) => $(s).replaceChildren());
    ["#summary-img", "#replay"].forEach((s) => $(s).removeAttribute("src"));
    $$(".preview").forEach((i) => i.removeAttribute("src"));
    $$("input[data-kb]").forEach((i) => { i.value = ""; });
    Object.values(keyboards).forEach((kb) => syncKeyboard(kb, ""));
    $("#consent").checked = false; $("#isyou").hidden = true;
    local.number = ""; text($("#num-out"), ""); text($("#checkin-error"), ""); text($("#about-error"), "");
    $$('[data-bind]').forEach((e) => { e.textContent = ""; });
    local.howtoDone = false; local.aboutDone = false; local.more = false; local.answers = {}; local.sex = "";
    $$(".q .btn, .choice .btn").forEach((b) => { b.setAttribute("aria-pressed", "false"); b.setAttribute("aria-checked", "false"); });
    $("#ready-ok").disabled = true;
  }

  // ---------- readiness ----------
  function answer(btn) {
    const q = btn.closest(".q").dataset.q;
    local.answers[q] = btn.dataset.answer;
    btn.closest(".yn").querySelectorAll(".btn").forEach((b) => b.setAttribute("aria-pressed", String(b === btn)));
    const all = $$(".q").map((e) => local.answers[e.dataset.q]);
    if (all.includes("yes")) { post("/station/readiness", { ready: false }).catch(() => {}); local.screen = "nottoday"; show("nottoday"); return; }
    $("#ready-ok").disabled = all.some((a) => a !== "no");
  }

  // ---------- check-in ----------
  function setTab(tab) {
    $$(".tab").forEach((t) => t.setAttribute("aria-selected", String(t.dataset.tab === tab)));
    $$("#s-checkin .pane").forEach((p) => { p.hidden = p.dataset.pane !== tab; });
    $("#kb-checkin").hidden = tab === "number";
    text($("#checkin-error"), "");
    attachKeyboard(activeTextInput());
  }
  let searchSeq = 0;
  async function search() {
    const q = $("#name-q").value.trim();
    const list = $("#roster");
    if (q.replace(/\s/g, "").length < 2) { list.replaceChildren(el("li", "hint", "Your name appears after 2 letters.")); return; }
    const mine = ++searchSeq;
    const r = await fetch("/station/roster?q=" + encodeURIComponent(q), { cache: "no-store" });
    const data = await r.json();
    if (mine !== searchSeq) return;
    if (!data.athletes.length) { list.replaceChildren(el("li", "hint", "No match. Try your number, or \u201cI'm new\u201d.")); return; }
    list.replaceChildren(...data.athletes.map((a) => nameButton(a)));
  }
  function nameButton(a, label) {
    const li = el("li"); const b = el("button", "btn", label || (a.name + (a.number ? " \u00b7 " + a.number : "")));
    b.dataset.athleteId = a.id; li.append(b); return li;
  }
  async function checkIn(body) {
    if (!$("#consent").checked) { text($("#checkin-error"), "Please tick the box below to agree first."); return; }
    body.consent = true;
    try { local.howtoDone = false; local.aboutDone = false; accept(await post("/station/check-in", body)); }
    catch (e) {
      if (e.status === 409 && e.data && e.data.existing) { isThisYou(e.data.existing, body.new_name); return; }
      text($("#checkin-error"), e.message);
    }
  }
  // "I'm new" with a name already on the list: pick yourself, or say you are someone else.
  function isThisYou(existing, name) {
    text($("#isyou-text"), "\u201c" + name + "\u201d is already on the list. Is this you?");
    const items = existing.map((a) => nameButton(a, "Yes, I am " + a.name + (a.number ? " \u00b7 " + a.number : "")));
    const li = el("li"); const b = el("button", "btn", "No, add me as new"); b.dataset.action = "confirm-new"; li.append(b);
    $("#isyou-list").replaceChildren(...items, li);
    $("#isyou").hidden = false;
    $("#kb-checkin").hidden = true;   // room for the answer; touching the name brings the keys back
  }

  // ---------- actions ----------
  async function act(action, target) {
    switch (action) {
      case "begin": wipe(); local.screen = "readiness"; show("readiness"); break;
      case "home": local.screen = "welcome"; wipe(); show("welcome"); break;
      case "ready-ok": local.screen = "checkin"; setTab("name"); search(); show("checkin"); break;
      case "howto-done": local.howtoDone = true; render(); break;
      case "about-skip": local.aboutDone = true; render(); break;
      case "about-save":
        try { local.aboutDone = true; accept(await post("/station/about", { sex: local.sex, birth_year: $("#birth-year").value })); }
        catch (e) { local.aboutDone = false; text($("#about-error"), e.message); }
        break;
      case "start":
        unlockAudio();
        try { await post("/station/start"); } catch (e) { text($('[data-bind="prompt"]'), e.message); }
        break;
      case "more": local.more = true; render(); startReplayOnce(); break;
      case "less": local.more = false; stopReplay(); render(); break;
      case "cancel": case "done": await endVisit(); break;
      case "quick-add": await checkIn({ new_name: $("#new-name").value }); break;
      case "confirm-new": await checkIn({ new_name: $("#new-name").value, confirm_new: true }); break;
    }
  }
  function startReplayOnce() {
    const r = view.summary && view.summary.replay;
    if (r && r.urls.length) { stopReplay(); replayStop = flipbook($("#replay"), r.urls, r.fps || 8); }
  }
  async function endVisit() {
    local.screen = "welcome"; wipe(); show("welcome");
    try { await post("/station/cancel"); } catch (e) { /* the runtime resets itself on its own timeout */ }
  }

  // One tap, one action: taps right after a screen change, and taps on a button whose request
  // is still running, are dropped.
  const running = new WeakSet();
  document.addEventListener("click", async (ev) => {
    const b = ev.target.closest("button");
    if (!b || b.disabled) return;
    if (Date.now() - shownAt < TAP_GUARD_MS || running.has(b)) { ev.preventDefault(); return; }
    running.add(b); b.classList.add("busy");
    try {
      if (b.dataset.action) { await act(b.dataset.action, b); return; }
      if (b.dataset.tab) { setTab(b.dataset.tab); return; }
      if (b.dataset.answer) { answer(b); return; }
      if (b.dataset.sex) {
        local.sex = b.dataset.sex;
        $$(".choice .btn").forEach((x) => x.setAttribute("aria-checked", String(x === b)));
        return;
      }
      if (b.dataset.athleteId) { await checkIn({ athlete_id: Number(b.dataset.athleteId) }); return; }
      if (b.dataset.key) {
        const k = b.dataset.key;
        if (k === "del") local.number = local.number.slice(0, -1);
        else if (k === "ok") { if (local.number) await checkIn({ number: local.number }); }
        else if (local.number.length < 8) local.number += k;
        text($("#num-out"), local.number);
      }
    } finally { running.delete(b); b.classList.remove("busy"); }
  }, true);
  $("#name-q").addEventListener("input", () => { search().catch(() => {}); });
  $("#new-name").addEventListener("input", () => { $("#isyou").hidden = true; $("#kb-checkin").hidden = false; });
  $("#new-name").addEventListener("pointerdown", () => { $("#isyou").hidden = true; $("#kb-checkin").hidden = false; });
  $("#tab-new").hidden = !boot.allow_quick_add;

  // ---------- idle timeout: back to Welcome, screen wiped ----------
  ["pointerdown", "keydown", "input"].forEach((t) => document.addEventListener(t, () => { lastTouch = Date.now(); unlockAudio(); }, true));
  setInterval(() => {
    if (currentScreen === "welcome" || view.busy) { if (view.busy) lastTouch = Date.now(); return; }
    if (Date.now() - lastTouch > boot.idle_timeout_s * 1000) endVisit();
  }, 1000);

  show("welcome");
  connect();
  startPolling();
})();
