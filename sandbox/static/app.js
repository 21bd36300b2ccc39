// The sandbox page: renders what the bot sends to each simulated person, live
// (server-sent events from /api/events), and turns clicks into what a person
// does in Telegram (type, tap a button, open a link). The server sanitizes every
// message's HTML; this file never builds HTML from message text itself.
"use strict";

const panes = new Map(); // chat_id -> {el, chat, menu, toasts, key}
let botUsername = "";
let clock = null; // {now_ms, scale, tz, next_due_ms, t0}

const $ = (selector, root = document) => root.querySelector(selector);

function setStatus(text, kind = "") {
  const status = $("#status");
  status.textContent = text;
  status.className = "status " + kind;
}

async function post(path, body = {}) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) {
    const text = await response.text();
    setStatus(response.status === 503 ? "The sandbox is starting…" : text, "warn");
    throw new Error(text);
  }
  setStatus("");
  return response.json();
}

// ------------------------------------------------------------------ panes

function buildPanes(list) {
  const root = $("#panes");
  root.textContent = "";
  panes.clear();
  for (const pane of list) {
    const el = $("#pane-template").content.firstElementChild.cloneNode(true);
    el.dataset.pane = pane.key;
    el.dataset.chatId = pane.chat_id;
    $(".hint", el).textContent = pane.hint;
    $(".title", el).textContent = pane.title;
    $(".who", el).textContent = `${pane.name} · chat with @${botUsername}`;
    $(".avatar", el).textContent = pane.title.slice(0, 1);
    const entry = {
      el, key: pane.key, chatId: pane.chat_id, stick: true,
      chat: $(".chat", el), menu: $(".menu", el), toasts: $(".toasts", el),
      webapp: $(".webapp", el), frame: $(".webapp-frame", el), menuButton: $(".menu-button", el),
    };
    entry.menuButton.addEventListener("click", () => openWebApp(entry, { chat_id: pane.chat_id }));
    $(".webapp-close", el).addEventListener("click", () => closeWebApp(entry));
    $(".webapp-back", el).addEventListener("click", () => tellWebApp(entry, "back_button_pressed"));
    $(".webapp-main", el).addEventListener("click", () => tellWebApp(entry, "main_button_pressed"));
    // follow new messages unless the person scrolled up to read; our own scrolls
    // (their events arrive later, maybe after an image grew the chat) do not count
    entry.chat.addEventListener("scroll", () => {
      if (entry.chat.scrollTop !== entry.autoTop) entry.stick = nearBottom(entry.chat);
    });
    $(".composer", el).addEventListener("submit", (event) => {
      event.preventDefault();
      const input = $("input", event.target);
      const text = input.value.trim();
      if (!text) return;
      input.value = "";
      post("/api/send", { chat_id: pane.chat_id, text }).catch(() => { input.value = text; });
    });
    panes.set(pane.chat_id, entry);
    root.appendChild(el);
  }
  applyAdminSwitch();
}

// The hints follow the journey, and the patient pane says who the patient is enrolled as
// (the name the front desk typed), both read from the bot's database by the server.
function applyMeta(list) {
  for (const meta of list) {
    const entry = [...panes.values()].find((e) => e.key === meta.key);
    if (!entry) continue;
    $(".hint", entry.el).textContent = meta.hint;
    if ("enrolled_as" in meta) {
      const who = $(".who", entry.el);
      const base = who.dataset.base || (who.dataset.base = who.textContent);
      who.textContent = meta.enrolled_as ? `${base} · enrolled as ${meta.enrolled_as}` : base;
    }
  }
}

function applyAdminSwitch() {
  const show = $("#show-admin").checked;
  for (const entry of panes.values()) {
    if (entry.key === "admin") entry.el.hidden = !show;
  }
  keepPinned();
}

// A reflow (a pane shown, the window resized) changes heights without a scroll event:
// chats that followed the newest message keep following it.
function keepPinned() {
  for (const entry of panes.values()) if (entry.stick) scrollDown(entry);
}
window.addEventListener("resize", keepPinned);

function renderButtons(item) {
  const keyboard = document.createElement("div");
  keyboard.className = "keyboard";
  for (const row of item.buttons) {
    const line = document.createElement("div");
    line.className = "row";
    for (const button of row) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "kb";
      b.textContent = button.text;
      if (button.url) {
        b.classList.add("url");
        b.dataset.url = button.url;
      } else if (button.web_app) {
        b.classList.add("opens-web-app");
        b.dataset.webApp = "true";
        b.dataset.messageId = item.message_id;
      } else {
        b.dataset.messageId = item.message_id;
      }
      line.appendChild(b);
    }
    keyboard.appendChild(line);
  }
  return keyboard;
}

function renderItem(item) {
  const wrap = document.createElement("div");
  wrap.className = `item from-${item.from}`;
  wrap.dataset.key = item.key;
  wrap.dataset.order = item.order;
  const bubble = document.createElement("div");
  bubble.className = `bubble kind-${item.kind}`;
  if (item.kind === "photo") {
    const link = document.createElement("a");
    link.href = item.media;
    link.target = "_blank";
    link.rel = "noopener";
    const img = document.createElement("img");
    img.src = item.media;
    img.alt = "photo";
    img.addEventListener("load", () => {
      const entry = panes.get(Number(wrap.closest(".pane")?.dataset.chatId));
      if (entry && entry.stick) scrollDown(entry);
    });
    link.appendChild(img);
    bubble.appendChild(link);
  } else if (item.kind === "document") {
    const file = document.createElement("a");
    file.className = "file";
    file.href = item.media;
    file.download = item.filename || "document";
    file.textContent = `📄 ${item.filename || "document"}`;
    bubble.appendChild(file);
  }
  if (item.html) {
    const text = document.createElement("div");
    text.className = "text";
    text.innerHTML = item.html; // sanitized by the server (sandbox/richtext.py)
    bubble.appendChild(text);
  }
  if (item.edited) {
    const edited = document.createElement("span");
    edited.className = "edited";
    edited.textContent = "edited";
    bubble.appendChild(edited);
  }
  wrap.appendChild(bubble);
  if (item.buttons.length) wrap.appendChild(renderButtons(item));
  return wrap;
}

function nearBottom(chat) {
  return chat.scrollHeight - chat.scrollTop - chat.clientHeight < 80;
}

function scrollDown(entry) {
  entry.chat.scrollTop = entry.chat.scrollHeight;
  entry.autoTop = entry.chat.scrollTop;
}

function upsert(entry, item) {
  const existing = entry.chat.querySelector(`[data-key="${item.key}"]`);
  const el = renderItem(item);
  if (existing) {
    existing.replaceWith(el); // an edit: the bubble changes in place
    el.classList.add("flash");
    return false;
  }
  const after = [...entry.chat.children].find((c) => Number(c.dataset.order) > item.order);
  entry.chat.insertBefore(el, after || null);
  return true;
}

function renderMenu(entry, menu) {
  entry.menu.textContent = "";
  for (const command of menu) {
    const chip = document.createElement("button");
    chip.type = "button";
    chip.className = "chip";
    chip.textContent = "/" + command.command;
    chip.title = command.description;
    chip.addEventListener("click", () =>
      post("/api/send", { chat_id: entry.chatId, text: "/" + command.command }).catch(() => {})
    );
    entry.menu.appendChild(chip);
  }
}

function toast(entry, { text, alert }) {
  const note = document.createElement("div");
  note.className = alert ? "toast alert" : "toast";
  note.textContent = text;
  entry.toasts.appendChild(note);
  setTimeout(() => note.remove(), alert ? 6000 : 3000);
}

function applyChange(change) {
  const entry = panes.get(change.chat_id);
  if (!entry) return;
  let added = false;
  for (const key of change.removed) entry.chat.querySelector(`[data-key="${key}"]`)?.remove();
  for (const item of change.upserts) added = upsert(entry, item) || added;
  if (change.menu) renderMenu(entry, change.menu);
  if ("menu_button" in change) {
    entry.menuButton.hidden = !change.menu_button;
    entry.menuButton.textContent = change.menu_button ? change.menu_button.text : "";
  }
  for (const t of change.toasts || []) toast(entry, t);
  if (added || entry.stick) {
    entry.stick = true;
    scrollDown(entry);
  }
}

// ----------------------------------------------------------------- clicks

document.addEventListener("click", (event) => {
  const target = event.target;
  if (!(target instanceof Element)) return;
  const deeplink = target.closest("a.deeplink");
  if (deeplink) {
    event.preventDefault();
    openInPatientPane(deeplink.getAttribute("href"));
    return;
  }
  const button = target.closest("button.kb");
  if (!button) return;
  const pane = button.closest(".pane");
  const chatId = Number(pane.dataset.chatId);
  if (button.dataset.url) {
    const url = button.dataset.url;
    if (url.startsWith(`https://t.me/${botUsername}?start=`)) openInPatientPane(url);
    else window.open(url, "_blank", "noopener");
    return;
  }
  if (button.dataset.webApp) {
    openWebApp(panes.get(chatId), {
      chat_id: chatId, message_id: Number(button.dataset.messageId), text: button.textContent,
    });
    return;
  }
  // disabled until the bot has handled the tap; a tap answered with only a toast leaves
  // the message as it was, so its button works again (an edit replaces the button anyway)
  button.disabled = true;
  post("/api/tap", {
    chat_id: chatId, message_id: Number(button.dataset.messageId), text: button.textContent,
  }).finally(() => { button.disabled = false; }).catch(() => {});
});

function openInPatientPane(link) {
  post("/api/open", { link }).then((answer) => {
    const entry = panes.get(answer.chat_id);
    if (entry) {
      entry.el.classList.add("flash");
      setTimeout(() => entry.el.classList.remove("flash"), 800);
    }
  }).catch(() => {});
}

// ------------------------------------------------------- desk Mini App

// Telegram's default themes, as themeParams reach a Mini App
const THEMES = {
  light: {
    bg_color: "#ffffff", text_color: "#000000", hint_color: "#999999", link_color: "#2481cc",
    button_color: "#2481cc", button_text_color: "#ffffff", secondary_bg_color: "#efeff3",
    section_bg_color: "#f4f4f7", destructive_text_color: "#d14e4e",
  },
  dark: {
    bg_color: "#17212b", text_color: "#f5f5f5", hint_color: "#708499", link_color: "#6ab3f3",
    button_color: "#5288c1", button_text_color: "#ffffff", secondary_bg_color: "#232e3c",
    section_bg_color: "#232e3c", destructive_text_color: "#ec3942",
  },
};

function theme() { return $("#dark-theme").checked ? "dark" : "light"; }

// As Telegram opens a Mini App: the sandbox's Bot API signs initData for the pane's
// person, and the page gets it in the URL fragment, with the theme.
function openWebApp(entry, body) {
  post("/api/webapp", body).then((answer) => {
    const fragment = new URLSearchParams({
      tgWebAppData: answer.init_data,
      tgWebAppVersion: "7.0",
      tgWebAppPlatform: "sandbox",
      tgWebAppThemeParams: JSON.stringify(THEMES[theme()]),
    });
    entry.webapp.classList.toggle("dark", theme() === "dark");
    $(".webapp-back", entry.el).hidden = true;
    $(".webapp-main", entry.el).hidden = true;
    entry.frame.src = `${answer.path}#${fragment}`;
    entry.webapp.hidden = false;
  }).catch(() => {});
}

function closeWebApp(entry) {
  entry.webapp.hidden = true;
  entry.frame.src = "about:blank";
}

function tellWebApp(entry, eventType, eventData = {}) {
  entry.frame.contentWindow?.postMessage(JSON.stringify({ eventType, eventData }), location.origin);
}

window.addEventListener("message", (event) => {
  if (event.origin !== location.origin) return;
  const entry = [...panes.values()].find((e) => e.frame.contentWindow === event.source);
  if (!entry) return;
  let message;
  try { message = JSON.parse(event.data); } catch (_) { return; }
  const data = message.eventData || {};
  if (message.eventType === "web_app_setup_main_button") {
    const main = $(".webapp-main", entry.el);
    main.hidden = !data.is_visible;
    main.disabled = data.is_active === false;
    main.textContent = data.text || "";
  } else if (message.eventType === "web_app_setup_back_button") {
    $(".webapp-back", entry.el).hidden = !data.is_visible;
  } else if (message.eventType === "web_app_close") {
    closeWebApp(entry);
  }
});

$("#dark-theme").addEventListener("change", () => {
  for (const entry of panes.values()) {
    if (entry.webapp.hidden) continue;
    entry.webapp.classList.toggle("dark", theme() === "dark");
    tellWebApp(entry, "theme_changed", { theme_params: THEMES[theme()] });
  }
});

$("#show-admin").addEventListener("change", applyAdminSwitch);
for (const button of document.querySelectorAll("[data-scale]")) {
  button.addEventListener("click", () =>
    post("/api/scale", { scale: Number(button.dataset.scale) }).catch(() => {})
  );
}
$("#jump").addEventListener("click", () => post("/api/jump").catch(() => {}));
$("#reset").addEventListener("click", () => {
  if (!confirm("Start over with an empty sandbox database?")) return;
  setStatus("Resetting…", "warn");
  post("/api/reset").catch(() => {}); // the status clears when the reset is done
});

// ------------------------------------------------------------------ clock

function formatTime(ms, tz, withDate = true) {
  const options = { timeZone: tz, weekday: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
  if (withDate) Object.assign(options, { day: "numeric", month: "short" });
  return new Intl.DateTimeFormat("en-GB", options).format(new Date(ms));
}

function renderClock() {
  if (!clock) return;
  const now = clock.now_ms + (performance.now() - clock.t0) * clock.scale;
  $("#clock-time").textContent = formatTime(now, clock.tz);
  $("#clock-time").dataset.version = clock.version;
}

function applyClock(data) {
  clock = { ...data, t0: performance.now() };
  // the zone's city ("Madrid"), its full name on hover: the toolbar stays on one line
  $("#clock-tz").textContent = data.tz.split("/").pop().replaceAll("_", " ");
  $("#clock-tz").title = data.tz;
  for (const button of document.querySelectorAll("[data-scale]")) {
    button.setAttribute("aria-pressed", String(Number(button.dataset.scale) === data.scale));
  }
  const jump = $("#jump");
  jump.disabled = data.next_due_ms == null;
  $("#next-due").textContent = data.next_due_ms == null
    ? "nothing scheduled"
    : "next: " + formatTime(data.next_due_ms, data.tz, false);
  renderClock();
}

setInterval(renderClock, 250);

// ------------------------------------------------------------------- feed

function connect() {
  const events = new EventSource("/api/events");
  events.addEventListener("hello", (event) => {
    const hello = JSON.parse(event.data);
    botUsername = hello.bot_username;
    buildPanes(hello.panes); // a fresh connection gets every message again
    setStatus("");
    document.body.dataset.ready = "true";
  });
  events.addEventListener("reset", () => {
    for (const entry of panes.values()) {
      entry.chat.textContent = "";
      entry.menu.textContent = "";
      entry.menuButton.hidden = true;
      closeWebApp(entry);
      entry.stick = true;
    }
  });
  events.addEventListener("chat", (event) => applyChange(JSON.parse(event.data)));
  events.addEventListener("panes", (event) => applyMeta(JSON.parse(event.data)));
  events.addEventListener("clock", (event) => applyClock(JSON.parse(event.data)));
  events.onerror = () => setStatus("Connection lost — reconnecting…", "warn");
}

connect();
