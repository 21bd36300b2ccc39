// The clinic desk page. Every call carries the Mini App's initData ("tma <initData>"),
// which the server checks; the page builds the DOM with textContent only (names and
// reasons are never HTML). Shapes: bot/desk/models.py.
"use strict";

const tg = window.Telegram && window.Telegram.WebApp;
const $ = (id) => document.getElementById(id);
const state = { me: null, view: "alerts", patients: [], sort: "open_alerts", desc: true };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

class Refused extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, options) {
  const response = await fetch(path, {
    ...options,
    headers: { Authorization: "tma " + ((tg && tg.initData) || ""), "Content-Type": "application/json" },
  });
  let body = null;
  try { body = await response.json(); } catch (_) { /* not JSON: a proxy's error page */ }
  if (!response.ok) {
    throw new Refused(response.status, (body && body.error) || "The desk could not be reached.");
  }
  return body;
}

function notice(text) {
  $("notice").textContent = text || "";
  $("notice").hidden = !text;
}

let toastTimer = null;
function toast(text) {
  const box = $("toast");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.hidden = true; }, 2500);
}

function refusal(error) {
  if (error.status === 401) return error.message;
  if (error.status === 403) return "The desk is for the clinic's therapists and admins.";
  return error.message || "The desk could not be reached. Try again in a moment.";
}

function ago(minutes) {
  if (minutes < 1) return "just now";
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${minutes % 60} min ago`;
  return `${Math.floor(hours / 24)} days ago`;
}

function when(iso) {
  if (!iso) return "—";
  const options = { weekday: "short", day: "2-digit", month: "2-digit", hour: "2-digit", minute: "2-digit" };
  if (state.me) options.timeZone = state.me.timezone;
  return new Intl.DateTimeFormat(undefined, options).format(new Date(iso));
}

// ------------------------------------------------------------------ alerts

function alertCard(alert) {
  const meta = [`Raised ${ago(alert.age_minutes)}`];
  if (alert.occurrences > 1) meta.push(`seen ×${alert.occurrences}`);
  const lines = [];
  if (alert.acknowledged_by) lines.push(`✅ Acknowledged by ${alert.acknowledged_by} at ${when(alert.acknowledged_at)}`);
  if (alert.called_back_by) lines.push(`📞 Called back by ${alert.called_back_by} at ${when(alert.called_back_at)}`);
  const buttons = [];
  if (alert.can_acknowledge) {
    buttons.push(el("button", { type: "button", "data-action": "ack", onclick: (e) => act(e, alert, "ack") }, "Acknowledge"));
  }
  if (alert.can_call_back) {
    buttons.push(el("button", { type: "button", class: alert.can_acknowledge ? "secondary" : "", "data-action": "called-back", onclick: (e) => act(e, alert, "called-back") }, "Call back done"));
  }
  return el("li", { class: `card ${alert.tier}`, "data-alert": String(alert.id) },
    el("div", { class: "tier" }, alert.tier_label),
    el("h2", {}, `${alert.patient_name} (#${alert.patient_id})`),
    el("ul", { class: "reasons" }, ...alert.reasons.map((r) => el("li", {}, r))),
    el("div", { class: "meta" }, meta.join(" · "),
      alert.escalation_level > 0 ? el("span", { class: "esc" }, ` · ⏫ escalation ${alert.escalation_level}`) : null),
    ...lines.map((line) => el("div", { class: "state" }, line)),
    buttons.length ? el("div", { class: "actions" }, ...buttons) : null);
}

async function loadAlerts() {
  const queue = await api("api/alerts");
  const list = $("alerts");
  list.replaceChildren(...queue.alerts.map(alertCard));
  $("alerts-empty").hidden = queue.alerts.length > 0;
  $("alert-count").textContent = queue.alerts.length ? String(queue.alerts.length) : "";
}

async function act(event, alert, action) {
  const button = event.currentTarget;
  button.disabled = true;
  try {
    const result = await api(`api/alerts/${alert.id}/${action}`, { method: "POST", body: "{}" });
    toast(result.message);
    if (tg && tg.HapticFeedback) tg.HapticFeedback.notificationOccurred(result.outcome === "already" ? "warning" : "success");
    await loadAlerts();
  } catch (error) {
    button.disabled = false;
    toast(refusal(error));
  }
}

// ---------------------------------------------------------------- patients

const TREND_ORDER = { "↑": 3, "→": 2, "↓": 1, "·": 0 };
const SORT_KEYS = {
  open_alerts: (p) => p.open_alerts,
  last_pain: (p) => p.last_pain,
  trend: (p) => TREND_ORDER[p.trend],
  response_rate: (p) => p.response_rate,
  next_checkin_at: (p) => (p.next_checkin_at ? Date.parse(p.next_checkin_at) : null),
  name: (p) => p.name.toLocaleLowerCase(),
};

function sorted(patients) {
  const key = SORT_KEYS[state.sort];
  const sign = state.desc ? -1 : 1;
  return [...patients].sort((a, b) => {
    const x = key(a), y = key(b);
    if (x === y) return a.id - b.id;
    if (x === null || x === undefined) return 1;  // no value: last, whichever the order
    if (y === null || y === undefined) return -1;
    return (x < y ? -1 : 1) * sign;
  });
}

function patientCard(p) {
  const rate = p.response_rate === null ? "—" : `${Math.round(p.response_rate * 100)}% (${p.answered}/${p.sent})`;
  return el("li", { class: "card patient", "data-patient": String(p.id) },
    el("div", { class: "row" },
      el("h2", {}, `${p.name} (#${p.id})`),
      el("span", { class: "pain", title: `baseline ${p.baseline_pain}` },
        `${p.last_pain === null ? "–" : p.last_pain}/10 ${p.trend}`)),
    el("dl", {},
      el("dt", {}, "Baseline"), el("dt", {}, "Sessions"),
      el("dd", {}, `${p.baseline_pain}/10`), el("dd", {}, String(p.sessions)),
      el("dt", {}, "Response rate"), el("dt", {}, "Open alerts"),
      el("dd", {}, rate), el("dd", {}, p.open_alerts ? `⚠️ ${p.open_alerts}` : "0"),
      el("dt", {}, "Exercise days (last week)"), el("dt", {}, "Next check-in"),
      el("dd", {}, p.exercise_days_last_week === null ? "—" : String(p.exercise_days_last_week)),
      el("dd", {}, p.status === "paused" ? "paused" : when(p.next_checkin_at))));
}

function renderPatients() {
  $("patients").replaceChildren(...sorted(state.patients).map(patientCard));
  $("patients-empty").hidden = state.patients.length > 0;
  $("sort-dir").textContent = state.desc ? "↓" : "↑";
}

async function loadPatients() {
  state.patients = (await api("api/patients")).patients;
  renderPatients();
}

// -------------------------------------------------------------- navigation

function mainButtonClicked() { show("patients"); }
function backButtonClicked() { show("alerts"); }

async function show(view) {
  state.view = view;
  for (const name of ["alerts", "patients"]) {
    $(`view-${name}`).hidden = name !== view;
    $(`tab-${name}`).setAttribute("aria-selected", String(name === view));
  }
  if (tg && tg.BackButton) { view === "alerts" ? tg.BackButton.hide() : tg.BackButton.show(); }
  if (tg && tg.MainButton) {
    if (view === "alerts") tg.MainButton.setText("My patients").show();
    else tg.MainButton.hide();
  }
  try {
    notice("");
    await (view === "alerts" ? loadAlerts() : loadPatients());
  } catch (error) {
    notice(refusal(error));
  }
}

function applyTheme() {
  if (!tg) return;
  const root = document.documentElement;
  if (tg.themeParams && Object.keys(tg.themeParams).length) root.classList.add("tg");
  root.dataset.scheme = tg.colorScheme || "light";
}

async function start() {
  if (tg) {
    tg.ready();
    tg.expand();
    applyTheme();
    tg.onEvent("themeChanged", applyTheme);
    if (tg.BackButton) tg.BackButton.onClick(backButtonClicked);
    if (tg.MainButton) tg.MainButton.onClick(mainButtonClicked);
  }
  for (const tab of document.querySelectorAll(".tabs button")) {
    tab.addEventListener("click", () => show(tab.dataset.view));
  }
  $("sort").addEventListener("change", (e) => { state.sort = e.target.value; state.desc = e.target.value !== "name" && e.target.value !== "next_checkin_at"; renderPatients(); });
  $("sort-dir").addEventListener("click", () => { state.desc = !state.desc; renderPatients(); });
  try {
    state.me = await api("api/me");
    $("who").textContent = `${state.me.clinic} · ${state.me.name} (${state.me.role})`;
  } catch (error) {
    notice(refusal(error));
    $("view-alerts").hidden = true;
    document.querySelector(".tabs").hidden = true;
    return;
  }
  await show("alerts");
  // the queue stays current while the desk is open (an alert raised meanwhile, a colleague's ack)
  setInterval(() => { if (!document.hidden && state.view === "alerts") loadAlerts().catch((e) => notice(refusal(e))); }, 30000);
}

start();
