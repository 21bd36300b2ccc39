// A small stand-in for Telegram's telegram-web-app.js, for the desk opened in a sandbox
// pane. Like Telegram's script it reads the launch parameters from the URL fragment
// (tgWebAppData, tgWebAppThemeParams, tgWebAppVersion, tgWebAppPlatform), sets the
// --tg-theme-* CSS variables, and talks to the client around it (here: the sandbox pane)
// with postMessage events of Telegram's names (web_app_setup_main_button,
// web_app_setup_back_button, web_app_close …; main_button_pressed, back_button_pressed,
// theme_changed back). Only what the desk uses is here.
"use strict";
(function () {
  const params = new URLSearchParams(location.hash.slice(1));
  const initData = params.get("tgWebAppData") || "";
  let themeParams = {};
  try { themeParams = JSON.parse(params.get("tgWebAppThemeParams") || "{}"); } catch (_) { themeParams = {}; }
  const handlers = {};  // event type -> [callbacks]

  function post(eventType, eventData) {
    if (window.parent === window) return;
    window.parent.postMessage(JSON.stringify({ eventType, eventData: eventData || {} }), location.origin);
  }

  function on(type, callback) { (handlers[type] = handlers[type] || []).push(callback); }
  function off(type, callback) { handlers[type] = (handlers[type] || []).filter((c) => c !== callback); }
  function emit(type) { for (const callback of handlers[type] || []) callback(); }

  function initDataUnsafe() {
    const out = {};
    for (const [key, value] of new URLSearchParams(initData)) {
      out[key] = key === "user" ? JSON.parse(value) : value;
    }
    return out;
  }

  function brightness(hex) {
    const m = /^#?([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex || "");
    if (!m) return 255;
    return 0.299 * parseInt(m[1], 16) + 0.587 * parseInt(m[2], 16) + 0.114 * parseInt(m[3], 16);
  }

  function applyTheme(theme) {
    themeParams = theme || {};
    WebApp.themeParams = themeParams;
    WebApp.colorScheme = brightness(themeParams.bg_color) < 120 ? "dark" : "light";
    const style = document.documentElement.style;
    for (const [key, value] of Object.entries(themeParams)) {
      style.setProperty(`--tg-theme-${key.replace(/_/g, "-")}`, value);
    }
    style.setProperty("--tg-color-scheme", WebApp.colorScheme);
  }

  const MainButton = {
    text: "", isVisible: false, isActive: true,
    setText(text) { this.text = String(text); return this._update(); },
    show() { this.isVisible = true; return this._update(); },
    hide() { this.isVisible = false; return this._update(); },
    enable() { this.isActive = true; return this._update(); },
    disable() { this.isActive = false; return this._update(); },
    onClick(callback) { on("mainButtonClicked", callback); return this; },
    offClick(callback) { off("mainButtonClicked", callback); return this; },
    _update() {
      post("web_app_setup_main_button", { is_visible: this.isVisible, is_active: this.isActive, text: this.text });
      return this;
    },
  };

  const BackButton = {
    isVisible: false,
    show() { this.isVisible = true; post("web_app_setup_back_button", { is_visible: true }); return this; },
    hide() { this.isVisible = false; post("web_app_setup_back_button", { is_visible: false }); return this; },
    onClick(callback) { on("backButtonClicked", callback); return this; },
    offClick(callback) { off("backButtonClicked", callback); return this; },
  };

  const WebApp = {
    initData,
    initDataUnsafe: initDataUnsafe(),
    version: params.get("tgWebAppVersion") || "7.0",
    platform: params.get("tgWebAppPlatform") || "sandbox",
    themeParams: {},
    colorScheme: "light",
    MainButton,
    BackButton,
    HapticFeedback: { notificationOccurred() {}, impactOccurred() {}, selectionChanged() {} },
    ready() { post("web_app_ready"); },
    expand() { post("web_app_expand"); },
    close() { post("web_app_close"); },
    onEvent: on,
    offEvent: off,
  };

  window.addEventListener("message", (event) => {
    if (event.source !== window.parent || event.origin !== location.origin) return;
    let message;
    try { message = JSON.parse(event.data); } catch (_) { return; }
    if (message.eventType === "main_button_pressed") emit("mainButtonClicked");
    else if (message.eventType === "back_button_pressed") emit("backButtonClicked");
    else if (message.eventType === "theme_changed") {
      applyTheme(message.eventData.theme_params);
      emit("themeChanged");
    }
  });

  applyTheme(themeParams);
  window.Telegram = { WebApp };
})();
