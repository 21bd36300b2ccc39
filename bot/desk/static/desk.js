// The clinic desk page. Every call carries the Mini App's initData ("tma <initData>"),
// which the server checks; the page builds the DOM with textContent only (names and
// reasons are never HTML). Shapes: bot/desk/models.py.
"use strict";

const tg = window.Telegram && window.Telegram.WebApp;
const $ = (id) => document.getElementById(id);
const state = {
  me: null, view: "alerts", home: "alerts", patients: [], sort: "open_alerts", desc: true, patient: null,
  form: null, enrollKey: null, enrolled: null, enrolling: false,
  sessionForm: null, recording: false, dischargeCheck: null, discharging: false, followupTimer: null,
};
const SVG = "http://www.w3.org/2000/svg";

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

function rateOf(p) {
  return p.response_rate === null ? "—" : `${Math.round(p.response_rate * 100)}% (${p.answered}/${p.sent})`;
}

function patientCard(p) {
  const rate = rateOf(p);
  const open = () => openPatient(p.id);
  return el("li", { class: "card patient", "data-patient": String(p.id), tabindex: "0", role: "button",
      onclick: open, onkeydown: (e) => { if (e.key === "Enter") open(); } },
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

// ------------------------------------------------------------- patient page

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

// The chart is drawn here, in a few lines of SVG, rather than with a vendored library:
// two series of a few dozen points, a baseline, a responder line and session marks need
// no more, it takes the Telegram theme from the same CSS variables as the page, and the
// page stays plain files with nothing to vendor, license or update.
function drawChart(detail) {
  const box = $("chart");
  const W = 340, H = 220, left = 26, right = 8, top = 10, bottom = 24;
  const points = [
    ...detail.usual_pain.map((p) => ({ ...p, series: "usual", t: Date.parse(p.at) })),
    ...detail.soreness.map((p) => ({ ...p, series: "soreness", t: Date.parse(p.at) })),
  ];
  const sessions = detail.sessions.map((at) => Date.parse(at));
  const times = [...points.map((p) => p.t), ...sessions];
  let t0 = Math.min(...times), t1 = Math.max(...times);
  if (!times.length) { t0 = Date.now() - 864e5; t1 = Date.now(); }
  if (t1 - t0 < 36e5) { t0 -= 18e5; t1 += 18e5; }
  const x = (t) => left + ((t - t0) / (t1 - t0)) * (W - left - right);
  const y = (v) => top + (1 - v / 10) * (H - top - bottom);
  const nodes = [];
  for (let v = 0; v <= 10; v += 2) {
    nodes.push(svg("line", { class: "grid", x1: left, x2: W - right, y1: y(v), y2: y(v) }));
    nodes.push(svg("text", { class: "axis", x: left - 6, y: y(v) + 3, "text-anchor": "end" }, String(v)));
  }
  const day = new Intl.DateTimeFormat(undefined, { day: "2-digit", month: "2-digit", timeZone: state.me.timezone });
  nodes.push(svg("text", { class: "axis", x: left, y: H - 6 }, day.format(new Date(t0))));
  nodes.push(svg("text", { class: "axis", x: W - right, y: H - 6, "text-anchor": "end" }, day.format(new Date(t1))));
  const base = detail.patient.baseline_pain;
  nodes.push(svg("line", { class: "baseline", x1: left, x2: W - right, y1: y(base), y2: y(base) }));
  nodes.push(svg("line", { class: "responder", x1: left, x2: W - right, y1: y(detail.responder_ceiling), y2: y(detail.responder_ceiling) }));
  sessions.forEach((t, i) => {
    nodes.push(svg("line", { class: "session", x1: x(t), x2: x(t), y1: top, y2: H - bottom }));
    nodes.push(svg("text", { class: "session-label", x: x(t) + 3, y: top + 9 }, `S${i + 1}`));
  });
  for (const series of ["soreness", "usual"]) {
    const mine = points.filter((p) => p.series === series).sort((a, b) => a.t - b.t);
    if (mine.length > 1) {
      nodes.push(svg("polyline", { class: series, points: mine.map((p) => `${x(p.t)},${y(p.value)}`).join(" ") }));
    }
  }
  const dots = points.map((p) => {
    const dot = svg("circle", { class: `dot-${p.series}`, cx: x(p.t), cy: y(p.value), r: 4 });
    dot.append(svg("title", {}, describe(p)));
    p.dot = dot;
    return dot;
  });
  box.replaceChildren(...nodes, ...dots);
  // hover (or touch) reads the nearest answer
  const pick = (event) => {
    if (!points.length) return;
    const rect = box.getBoundingClientRect();
    const px = ((event.clientX - rect.left) / rect.width) * W;
    const py = ((event.clientY - rect.top) / rect.height) * H;
    let best = points[0], bestD = Infinity;
    for (const p of points) {
      const d = (x(p.t) - px) ** 2 + ((y(p.value) - py) ** 2) / 4;
      if (d < bestD) { best = p; bestD = d; }
    }
    for (const p of points) p.dot.classList.toggle("dot-active", p === best);
    $("readout").textContent = describe(best);
  };
  box.onpointermove = pick;
  box.onpointerdown = pick;
}

function describe(p) {
  return `${p.series === "usual" ? "Usual pain" : "Soreness"} ${p.value}/10 · ${when(p.at)}`;
}

function renderPatient(detail) {
  const p = detail.patient;
  $("patient-name").textContent = `${p.name} (#${p.id})`;
  $("patient-summary").textContent =
    `Baseline ${p.baseline_pain}/10 · responder if usual pain ≤ ${detail.responder_ceiling} · ` +
    `${p.sessions} session(s) · check-ins answered ${rateOf(p)}`;
  $("readout").textContent = "Touch the chart to read an answer.";
  drawChart(detail);
  const rows = detail.answers.map((a) => el("tr", {},
    el("td", {}, when(a.at)), el("td", {}, a.checkin), el("td", {}, a.label), el("td", {}, String(a.value))));
  $("answers").tBodies[0].replaceChildren(...rows);
  $("answers").hidden = rows.length === 0;
  $("answers-empty").hidden = rows.length > 0;
}

async function openPatient(id) {
  state.patient = id;
  await show("patient");
}

async function loadPatient() {
  renderPatient(await api(`api/patients/${state.patient}`));
}

async function exportPatient() {
  const button = $("export");
  button.disabled = true;
  if (tg && tg.MainButton) tg.MainButton.disable();
  try {
    const sent = await api(`api/patients/${state.patient}/export`, { method: "POST", body: "{}" });
    toast(sent.message);
  } catch (error) {
    toast(refusal(error));
  } finally {
    button.disabled = false;
    if (tg && tg.MainButton) tg.MainButton.enable();
  }
}

// ---------------------------------------------------------------- enrollment

function newKey() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

const WHEN_LABELS = { 0: "Just now", 30: "30 min ago", 60: "1 h ago", 120: "2 h ago" };

function choice(type, name, value, label, checked) {
  const input = el("input", { type, name, value: String(value) });
  input.checked = Boolean(checked);
  return el("label", {}, input, el("span", {}, label));
}

async function loadEnroll() {
  if (state.form) return;
  const form = await api("api/enroll/form");
  state.form = form;
  $("enroll-therapist").replaceChildren(
    el("option", { value: "" }, "Choose…"),
    ...form.therapists.map((t) => el("option", { value: String(t.id) }, t.name)));
  if (form.therapists.length === 1) $("enroll-therapist").value = String(form.therapists[0].id);
  $("enroll-when").replaceChildren(...form.minutes_ago.map((m, i) =>
    choice("radio", "when", m, WHEN_LABELS[m] || `${m} min ago`, i === 0)));
  $("enroll-regions").replaceChildren(...form.regions.map((r) => choice("checkbox", "region", r.key, r.label)));
  $("enroll-baseline").replaceChildren(...Array.from({ length: 11 }, (_, v) => choice("radio", "baseline", v, String(v))));
  // the chat's /enroll questions: buttock or leg symptoms, then the screening facts
  $("enroll-legs-legend").textContent = form.legs_question;
  $("enroll-legs").replaceChildren(choice("radio", "legs", "yes", form.legs_yes), choice("radio", "legs", "no", form.legs_no));
  const none = choice("checkbox", "screen-none", "none", form.screening_none);
  none.querySelector("input").id = "enroll-screen-none";
  $("enroll-screening").replaceChildren(...form.screening.map((f) => choice("checkbox", "screen", f.key, f.label)), none);
  $("enroll-screening").addEventListener("change", (e) => {  // a fact, or "None of these": not both
    if (e.target.name === "screen-none" && e.target.checked) {
      for (const box of document.querySelectorAll('input[name="screen"]')) box.checked = false;
    } else if (e.target.name === "screen" && e.target.checked) {
      $("enroll-screen-none").checked = false;
    }
  });
  resetEnroll(true);  // the first load keeps what was typed while the form was loading
}

function resetEnroll(keepTyped) {
  state.enrollKey = newKey();
  if (keepTyped !== true) $("enroll-form").reset();
  $("enroll-form").hidden = false;
  $("enrolled").hidden = true;
  const first = document.querySelector('#enroll-when input');
  if (first) first.checked = true;
  if (state.form && state.form.therapists.length === 1) $("enroll-therapist").value = String(state.form.therapists[0].id);
  if (tg && tg.MainButton && state.view === "enroll") tg.MainButton.setText("Enroll").show();
}

function formValues() {
  const picked = (name) => [...document.querySelectorAll(`input[name="${name}"]:checked`)].map((i) => i.value);
  const baseline = picked("baseline")[0];
  return {
    enroll_key: state.enrollKey,
    name: $("enroll-name").value,
    therapist_id: Number($("enroll-therapist").value || 0),
    minutes_ago: Number(picked("when")[0] || 0),
    regions: picked("region"),
    baseline_pain: baseline === undefined ? -1 : Number(baseline),
    leg_symptoms: picked("legs").length ? picked("legs")[0] === "yes" : null,
    screening: picked("screen"),
    screening_none: $("enroll-screen-none").checked,
  };
}

async function submitEnroll() {
  if (state.enrolling) return;
  state.enrolling = true;
  $("enroll-submit").disabled = true;
  if (tg && tg.MainButton) tg.MainButton.disable();
  try {
    const done = await api("api/enroll", { method: "POST", body: JSON.stringify(formValues()) });
    state.enrolled = done;
    $("enrolled-title").textContent = `${done.name} is enrolled`;
    $("enrolled-hint").textContent = `Show the QR code to the patient, or send them the one-time link (valid ${done.link_hours} h).`;
    $("enrolled-qr").src = `data:image/png;base64,${done.qr_png_base64}`;
    $("enrolled-link").href = done.link;
    $("enrolled-link").textContent = done.link;
    $("enroll-form").hidden = true;
    $("enrolled").hidden = false;
    if (tg && tg.MainButton) tg.MainButton.hide();
    if (tg && tg.HapticFeedback) tg.HapticFeedback.notificationOccurred("success");
  } catch (error) {
    toast(refusal(error));
  } finally {
    state.enrolling = false;
    $("enroll-submit").disabled = false;
    if (tg && tg.MainButton) tg.MainButton.enable();
  }
}

async function sendLink() {
  try {
    const sent = await api(`api/enroll/${state.enrolled.patient_id}/send`, {
      method: "POST", body: JSON.stringify({ link: state.enrolled.link }),
    });
    toast(sent.message);
  } catch (error) {
    toast(refusal(error));
  }
}

// ------------------------------------------------------------- admin: staff
// Staff, invitations, deactivation and reassignment (bot/desk/admin.py): every change
// is the chat's care/ operation, which decides again; a refusal is its sentence.

const admin = { invited: null, auditBefore: null, auditRows: [] };

function staffCard(person) {
  const seen = person.last_seen_at ? when(person.last_seen_at) : "never";
  const state = person.active ? "active" : `inactive since ${when(person.deactivated_at)}`;
  const confirm = el("div", { class: "confirm", hidden: "" });
  const buttons = person.can_deactivate
    ? el("div", { class: "actions" }, el("button", { type: "button", class: "secondary", "data-action": "deactivate",
        onclick: (e) => askDeactivate(e, person, confirm) }, "Deactivate"))
    : null;
  return el("li", { class: `card staff-member${person.active ? "" : " inactive"}`, "data-staff": String(person.id) },
    el("h2", {}, `${person.name} (#${person.id})`),
    el("div", { class: "meta" }, `${person.role_label} · ${state} · last seen ${seen}`),
    buttons, confirm);
}

async function askDeactivate(event, person, box) {
  const button = event.currentTarget;
  button.disabled = true;
  try {
    const seen = await api(`api/admin/staff/${person.id}/deactivate`);
    // the chat's confirmation, in its words: who, and what moves
    const yes = el("button", { type: "button", "data-action": "confirm" }, "Yes, deactivate");
    const no = el("button", { type: "button", class: "secondary" }, "No, keep");
    yes.addEventListener("click", () => deactivate(yes, no, person, box));
    no.addEventListener("click", () => { box.hidden = true; button.disabled = false; toast("Nothing changed."); });
    box.replaceChildren(
      el("p", {}, `Turn off the access of ${seen.name} (${seen.role_label})?\n` +
        `• ${seen.open_alerts} open alert(s) go to the other therapists and the admins\n` +
        `• ${seen.patients} patient(s) will be listed for you to reassign`),
      el("div", { class: "actions" }, yes, no));
    box.hidden = false;
  } catch (error) {
    button.disabled = false;
    toast(error.message);
  }
}

async function deactivate(yes, no, person, box) {
  if (yes.disabled) return;  // one tap acts once (the server refuses a second copy anyway)
  yes.disabled = true;
  no.disabled = true;
  try {
    const done = await api(`api/admin/staff/${person.id}/deactivate`, { method: "POST", body: "{}" });
    toast(done.message);
    await loadStaff();
  } catch (error) {
    box.hidden = true;
    toast(error.message);
    await loadStaff();
  }
}

function reassignRow(patient) {
  const select = el("select", { "aria-label": `New therapist of ${patient.name}` },
    ...patient.targets.map((t) => el("option", { value: String(t.id) }, t.name)));
  const move = el("button", { type: "button" }, "Move");
  move.addEventListener("click", async () => {
    move.disabled = true;
    try {
      const done = await api(`api/admin/patients/${patient.id}/reassign`, {
        method: "POST", body: JSON.stringify({ therapist_id: Number(select.value) }),
      });
      toast(done.message);
      await loadStaff();
    } catch (error) {
      move.disabled = false;
      toast(error.message);
    }
  });
  return el("li", { class: "card", "data-reassign": String(patient.id) },
    el("h2", {}, `${patient.name} (#${patient.id})`),
    el("div", { class: "meta" }, `therapist: ${patient.therapist} · ${patient.status}`),
    patient.targets.length
      ? el("div", { class: "move" }, select, move)
      : el("div", { class: "meta" }, "There is no other active therapist. Invite one above."));
}

async function loadStaff() {
  const [listed, movable] = await Promise.all([api("api/admin/staff"), api("api/admin/reassign")]);
  $("staff").replaceChildren(...listed.staff.map(staffCard));
  $("invite-roles").replaceChildren(...listed.invite_roles.map((role) =>
    el("button", { type: "button", "data-role": role.key, onclick: (e) => invite(e, role) }, `Invite: ${role.label}`)));
  $("reassign").replaceChildren(...movable.patients.map(reassignRow));
  $("reassign-empty").hidden = movable.patients.length > 0;
}

async function invite(event, role) {
  const button = event.currentTarget;
  button.disabled = true;
  try {
    const done = await api("api/admin/invites", { method: "POST", body: JSON.stringify({ role: role.key }) });
    admin.invited = done;
    $("invited-title").textContent = `Invitation for a new ${done.role_label}`;
    $("invited-hint").textContent = `Send this one-time link to the new ${done.role_label}. It works once and expires in ${done.link_hours} hours.`;
    $("invited-link").href = done.link;
    $("invited-link").textContent = done.link;
    $("invited").hidden = false;
  } catch (error) {
    toast(error.message);
  } finally {
    button.disabled = false;
  }
}

async function sendInvite() {
  try {
    const sent = await api("api/admin/invites/send", { method: "POST", body: JSON.stringify({ link: admin.invited.link }) });
    toast(sent.message);
  } catch (error) {
    toast(refusal(error));
  }
}

// ------------------------------------------------------------- admin: audit log

function auditQuery(before) {
  const fields = {
    action: $("audit-action").value, actor_kind: $("audit-actor-kind").value, actor: $("audit-actor").value,
    subject_kind: $("audit-subject-kind").value, subject: $("audit-subject").value,
    from: $("audit-from").value, to: $("audit-to").value,
  };
  if (before) fields.before = String(before);
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(fields)) if (value.trim()) query.set(key, value.trim());
  return query.toString();
}

function auditRow(event) {
  const actor = event.actor_id ? `${event.actor_kind} #${event.actor_id}` : event.actor_kind;
  const subject = event.subject_kind ? ` → ${event.subject_kind} #${event.subject_id}` : "";
  return el("li", { "data-event": String(event.id) },
    `${when(event.at)} · `, el("span", { class: "action" }, event.action), ` · ${actor}${subject}`);
}

async function loadAudit(more) {
  const page = await api(`api/admin/audit?${auditQuery(more ? admin.auditBefore : null)}`);
  admin.auditRows = more ? [...admin.auditRows, ...page.events] : page.events;
  admin.auditBefore = page.next_before;
  const chosen = $("audit-action").value;
  $("audit-action").replaceChildren(el("option", { value: "" }, "Any"),
    ...page.actions.map((a) => el("option", { value: a }, a)));
  $("audit-action").value = chosen;
  $("audit").replaceChildren(...admin.auditRows.map(auditRow));
  $("audit-empty").hidden = admin.auditRows.length > 0;
  $("audit-more").hidden = page.next_before === null;
}

async function filterAudit(more) {
  try {
    notice("");
    await loadAudit(more);
  } catch (error) {
    notice(refusal(error));  // the filter refused in words; the rows shown stay as they were
  }
}

// ------------------------------------------- front desk: follow-up, session, discharge

function followupCard(p) {
  const last = p.last_session_at ? `last ${when(p.last_session_at)}` : "no session yet";
  return el("li", { class: "card" },
    el("h2", {}, `${p.name} (#${p.id})`),
    el("p", { class: "meta" }, `${p.therapist} · ${p.sessions} session(s), ${last}${p.status === "paused" ? " · paused" : ""}`),
    el("div", { class: "actions" },
      el("button", { type: "button", onclick: () => openSession(p.id) }, "Record a session"),
      el("button", { type: "button", class: "secondary", onclick: () => openDischarge(p.id) }, "Discharge")));
}

async function loadFollowup() {
  const typed = $("followup-search").value.trim();
  const list = await api(`api/frontdesk/patients${typed ? `?q=${encodeURIComponent(typed)}` : ""}`);
  $("followup").replaceChildren(...list.patients.map(followupCard));
  $("followup-empty").hidden = list.patients.length > 0;
}

function searchFollowup() {
  clearTimeout(state.followupTimer);
  state.followupTimer = setTimeout(() => loadFollowup().catch((e) => notice(refusal(e))), 250);
}

async function openSession(id) {
  state.sessionForm = { patient_id: id };
  await show("session");
}

async function loadSession() {
  const form = await api(`api/frontdesk/patients/${state.sessionForm.patient_id}/session`);
  state.sessionForm = form;
  $("session-name").textContent = `${form.name} (#${form.patient_id})`;
  $("session-last").textContent = form.last_number
    ? `Session ${form.last_number + 1}. The last one ended ${when(form.last_ended_at)}.`
    : "Session 1.";
  $("session-when").replaceChildren(...form.minutes_ago.map((m, i) =>
    choice("radio", "session-when", m, WHEN_LABELS[m] || `${m} min ago`, i === 0)));
  $("session-regions").replaceChildren(...form.regions.map((r) =>
    choice("checkbox", "session-region", r.key, r.label, form.last_regions.includes(r.key))));
}

async function submitSession() {
  if (state.recording || !state.sessionForm || !state.sessionForm.regions) return;
  state.recording = true;
  $("session-submit").disabled = true;
  if (tg && tg.MainButton) tg.MainButton.disable();
  const picked = (name) => [...document.querySelectorAll(`input[name="${name}"]:checked`)].map((i) => i.value);
  try {
    const done = await api(`api/frontdesk/patients/${state.sessionForm.patient_id}/session`, {
      method: "POST",
      body: JSON.stringify({
        last_number: state.sessionForm.last_number,
        minutes_ago: Number(picked("session-when")[0] || 0),
        regions: picked("session-region"),
      }),
    });
    if (tg && tg.HapticFeedback) tg.HapticFeedback.notificationOccurred("success");
    await show("followup");
    notice(done.message);
  } catch (error) {
    toast(refusal(error));
  } finally {
    state.recording = false;
    $("session-submit").disabled = false;
    if (tg && tg.MainButton) tg.MainButton.enable();
  }
}

async function openDischarge(id) {
  state.dischargeCheck = { patient_id: id };
  await show("discharge");
}

async function loadDischarge() {
  $("discharge-lines").replaceChildren();
  $("discharge-confirm").disabled = true;
  const check = await api(`api/frontdesk/patients/${state.dischargeCheck.patient_id}/discharge`);
  state.dischargeCheck = check;
  const [title, ...rest] = check.lines;  // the chat's confirmation, line by line
  $("discharge-name").textContent = title;
  $("discharge-lines").replaceChildren(...rest.map((line, i) =>
    el("li", { class: i === rest.length - 1 ? "consequence" : "" }, line)));
  $("discharge-confirm").textContent = check.confirm;
  $("discharge-keep").textContent = check.keep;
  $("discharge-confirm").disabled = false;
}

async function confirmDischarge() {
  if (state.discharging || !state.dischargeCheck) return;
  state.discharging = true;
  $("discharge-confirm").disabled = true;
  try {
    const done = await api(`api/frontdesk/patients/${state.dischargeCheck.patient_id}/discharge`, { method: "POST" });
    if (tg && tg.HapticFeedback) tg.HapticFeedback.notificationOccurred("success");
    await show("followup");
    notice(done.message);
  } catch (error) {
    notice(refusal(error));  // e.g. discharged meanwhile: said, nothing changed
  } finally {
    state.discharging = false;
  }
}

// -------------------------------------------------------------- navigation

function mainButtonClicked() {
  if (state.view === "alerts") show("patients");
  else if (state.view === "patient") exportPatient();
  else if (state.view === "enroll") submitEnroll();
  else if (state.view === "session") submitSession();
}
function backButtonClicked() {
  if (state.view === "session" || state.view === "discharge") show("followup");
  else show(state.view === "patient" ? "patients" : state.home);
}

const LOADERS = {
  alerts: () => loadAlerts(), patients: () => loadPatients(), patient: () => loadPatient(), enroll: () => loadEnroll(),
  staff: () => loadStaff(), audit: () => loadAudit(false),
  followup: () => loadFollowup(), session: () => loadSession(), discharge: () => loadDischarge(),
};
const FRONTDESK_VIEWS = ["followup", "session", "discharge"];

async function show(view) {
  state.view = view;
  for (const section of document.querySelectorAll("main > section")) section.hidden = section.id !== `view-${view}`;
  for (const tab of document.querySelectorAll(".tabs button")) {
    const name = tab.dataset.view;
    tab.setAttribute("aria-selected", String(name === view || (name === "patients" && view === "patient")));
  }
  $("tab-followup").setAttribute("aria-selected", String(FRONTDESK_VIEWS.includes(view)));
  if (tg && tg.BackButton) { view === state.home ? tg.BackButton.hide() : tg.BackButton.show(); }
  if (tg && tg.MainButton) {
    if (view === "alerts") tg.MainButton.setText("My patients").show();
    else if (view === "patient") tg.MainButton.setText("Send CSV + FHIR to my chat").show();
    else if (view === "enroll" && $("enrolled").hidden) tg.MainButton.setText("Enroll").show();
    else if (view === "session") tg.MainButton.setText("Record session").show();
    else tg.MainButton.hide();
  }
  window.scrollTo(0, 0);
  try {
    notice("");
    await LOADERS[view]();
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
  // in Telegram the export and the enrollment are the MainButton; in a browser, buttons
  $("export").parentElement.hidden = Boolean(tg && tg.MainButton);
  $("enroll-submit").parentElement.hidden = Boolean(tg && tg.MainButton);
  $("session-submit").parentElement.hidden = Boolean(tg && tg.MainButton);
  for (const tab of document.querySelectorAll(".tabs button")) {
    tab.addEventListener("click", () => show(tab.dataset.view));
  }
  $("sort").addEventListener("change", (e) => { state.sort = e.target.value; state.desc = e.target.value !== "name" && e.target.value !== "next_checkin_at"; renderPatients(); });
  $("sort-dir").addEventListener("click", () => { state.desc = !state.desc; renderPatients(); });
  $("export").addEventListener("click", exportPatient);
  $("enroll-form").addEventListener("submit", (e) => { e.preventDefault(); submitEnroll(); });
  $("enrolled-send").addEventListener("click", sendLink);
  $("enrolled-again").addEventListener("click", resetEnroll);
  $("invited-send").addEventListener("click", sendInvite);
  $("audit-form").addEventListener("submit", (e) => { e.preventDefault(); filterAudit(false); });
  $("audit-clear").addEventListener("click", () => { $("audit-form").reset(); filterAudit(false); });
  $("audit-more").addEventListener("click", () => filterAudit(true));
  $("followup-search").addEventListener("input", searchFollowup);
  $("session-form").addEventListener("submit", (e) => { e.preventDefault(); submitSession(); });
  $("discharge-confirm").addEventListener("click", confirmDischarge);
  $("discharge-keep").addEventListener("click", () => show("followup"));
  try {
    state.me = await api("api/me");
    $("who").textContent = `${state.me.clinic} · ${state.me.name} (${state.me.role})`;
    // what each role has: the queue and patients (therapist, admin), enrollment (front desk, admin)
    const role = state.me.role;
    $("tab-alerts").hidden = role === "staff";
    $("tab-patients").hidden = role === "staff";
    $("tab-enroll").hidden = role === "therapist";
    $("tab-staff").hidden = role !== "admin";  // the admin's screens (bot/desk/admin.py)
    $("tab-audit").hidden = role !== "admin";
    $("tab-followup").hidden = role === "therapist";  // record a session, discharge: as /session, /discharge
    state.home = role === "staff" ? "enroll" : "alerts";
  } catch (error) {
    notice(refusal(error));
    $("view-alerts").hidden = true;
    document.querySelector(".tabs").hidden = true;
    return;
  }
  await show(state.home);
  // the queue stays current while the desk is open (an alert raised meanwhile, a colleague's ack)
  setInterval(() => { if (!document.hidden && state.view === "alerts") loadAlerts().catch((e) => notice(refusal(e))); }, 30000);
}

start();
