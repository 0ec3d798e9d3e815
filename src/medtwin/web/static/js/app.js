// medtwin dashboard: hash router, navigation bar, sign-in gate, keyboard shortcuts, alarm badge.
// Routes: #/ward/<ward>, #/patient/<id>, #/alarms[/<ward>], #/map, #/login and placeholder pages.

import { api, features } from "./api.js";
import { auth } from "./auth.js";
import { h } from "./format.js";
import { DEFAULT_PAGE, PAGES } from "./pages/index.js";
import { focusHeading, setTitle, toast } from "./ui.js";

const main = document.getElementById("main");
let current = null; // {page, instance, key}
let navToken = 0;

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, qs] = raw.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const id = parts[0] || DEFAULT_PAGE;
  return { id, params: parts.slice(1), query: new URLSearchParams(qs || "") };
}

export function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function renderNav(activeId) {
  const ul = document.getElementById("nav");
  if (!ul.childElementCount) {
    for (const p of PAGES.filter((x) => x.nav)) {
      ul.append(
        h(
          "li",
          null,
          h(
            "a",
            {
              href: `#/${p.id}`,
              "data-page": p.id,
              "data-soon": p.soon ? "" : null,
              title: p.soon ? `${p.label}: planned` : null,
            },
            p.label,
            p.soon ? h("span.visually-hidden", null, " (planned)") : null,
          ),
        ),
      );
    }
  }
  for (const a of ul.querySelectorAll("a")) {
    const on = a.dataset.page === activeId || (activeId === "patient" && a.dataset.page === "ward");
    if (on) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

function renderUser() {
  const box = document.getElementById("user-box");
  box.replaceChildren();
  if (!auth.signedIn()) return;
  const role = auth.user.role ? auth.user.role.replace(/_/g, " ") : "";
  box.append(
    h("span", { "data-user": "", title: `${auth.user.id}${role ? `, ${role}` : ""}` }, auth.user.name || auth.user.id),
    h(
      "button.btn.btn-ghost.btn-sm",
      {
        type: "button",
        onclick: () => {
          auth.logout();
          navigate("#/login");
        },
      },
      "Sign out",
    ),
  );
}

async function route() {
  const token = ++navToken;
  const { id, params, query } = parseHash();
  let page = PAGES.find((p) => p.id === id);
  if (!page) {
    navigate(`#/${DEFAULT_PAGE}`);
    return;
  }
  const toLogin = () => {
    const back = location.hash && !location.hash.startsWith("#/login") ? location.hash : "";
    sessionStorage.setItem("medtwin.after-login", back);
    location.replace("#/login");
  };
  if (!page.public && !auth.signedIn()) {
    toLogin();
    return;
  }
  // Which optional APIs exist (from /openapi.json, fetched once). Pages marked `parallel` get the
  // promise and fetch their own data meanwhile (the ward's first load); the others get the result.
  const featsPromise = features();
  const feats = page.parallel ? null : await featsPromise;
  featsPromise.then((f) => {
    if (!page.public && f.login && !auth.token && token === navToken) toLogin(); // a server sign-in exists
  });
  if (current?.instance?.unmount) {
    try {
      await current.instance.unmount();
    } catch (e) {
      console.error(e);
    }
  }
  current = null;
  renderNav(id);
  renderUser();
  main.replaceChildren(h("p.loading", null, "Loading…"));
  let mod;
  try {
    mod = await page.load();
  } catch (e) {
    main.replaceChildren(h("p.banner", { role: "alert" }, `This page failed to load: ${e.message}`));
    return;
  }
  if (token !== navToken) return; // another navigation started meanwhile
  const root = h("div.page", { "data-page": id });
  main.replaceChildren(root);
  const ctx = { page, query, features: feats, featuresPromise: featsPromise, navigate };
  try {
    const instance = await mod.mount(root, params, ctx);
    if (token !== navToken) {
      instance?.unmount?.();
      return;
    }
    current = { page, instance };
    if (!instance?.keepFocus) focusHeading(root);
  } catch (e) {
    console.error(e);
    root.replaceChildren(
      h("h1", null, page.label || "Error"),
      h("p.banner", { role: "alert" }, `Could not show this page: ${e.message}`),
    );
  }
  setTitle(page.label || (current?.instance?.title ?? ""));
}

// ---------------------------------------------------------------- keyboard shortcuts
function typing(el) {
  return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
}

function toggleHelp(show) {
  const dlg = document.getElementById("help");
  const open = show ?? dlg.hidden;
  dlg.hidden = !open;
  if (open) dlg.querySelector("[data-close]").focus();
}

function toggleTheme() {
  const root = document.documentElement;
  const next = root.dataset.theme === "dark" ? "light" : "dark";
  root.dataset.theme = next;
  try {
    localStorage.setItem("medtwin.theme", next);
  } catch {
    /* not persisted */
  }
  const btn = document.getElementById("theme-toggle");
  btn.setAttribute("aria-pressed", String(next === "light"));
  btn.setAttribute("aria-label", next === "light" ? "Switch to dark theme" : "Switch to light theme");
  window.dispatchEvent(new CustomEvent("medtwin:theme", { detail: next }));
}

document.addEventListener("keydown", (ev) => {
  if (ev.defaultPrevented || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  if (ev.key === "Escape" && !document.getElementById("help").hidden) {
    toggleHelp(false);
    ev.preventDefault();
    return;
  }
  if (typing(ev.target)) return;
  if (current?.instance?.onKey?.(ev)) {
    ev.preventDefault();
    return;
  }
  const go = { w: "#/ward", a: "#/alarms", m: "#/map" }[ev.key];
  if (go && auth.signedIn()) {
    navigate(go);
    ev.preventDefault();
  } else if (ev.key === "?") {
    toggleHelp();
    ev.preventDefault();
  } else if (ev.key === "t") {
    toggleTheme();
    ev.preventDefault();
  }
});

// Space activates links that act as buttons (bed tiles, map cells), as Enter already does.
document.addEventListener("keydown", (ev) => {
  if (ev.key !== " " || ev.defaultPrevented) return;
  const a = ev.target.closest?.("a[data-space]");
  if (a) {
    ev.preventDefault();
    a.click();
  }
});

// ---------------------------------------------------------------- alarm badge (every page)
let badgeTimer = null;

async function refreshBadge() {
  const el = document.getElementById("alarm-badge");
  const feats = await features();
  if (!feats.alarms || !auth.signedIn()) {
    el.hidden = true;
    return;
  }
  el.hidden = false;
  try {
    const list = await api("/api/alarms", { query: { state: "active" } });
    const n = list.length;
    el.classList.toggle("none", n === 0); // keeps its place: the top bar never changes height
    if (n) {
      const top = list.some((a) => a.priority === "high") ? "high" : list.some((a) => a.priority === "medium") ? "medium" : "low";
      el.dataset.priority = top;
      el.textContent = `${n} active alarm${n === 1 ? "" : "s"}`;
      el.setAttribute("aria-label", `${n} active alarm${n === 1 ? "" : "s"}, highest priority ${top}; open the alarm list`);
    }
  } catch {
    /* the badge is a convenience; pages show their own errors */
  }
}

function alarmChanged() {
  clearTimeout(badgeTimer);
  badgeTimer = setTimeout(refreshBadge, 300);
}

// ---------------------------------------------------------------- boot
function boot() {
  auth.load();
  const btn = document.getElementById("theme-toggle");
  const theme = document.documentElement.dataset.theme;
  btn.setAttribute("aria-pressed", String(theme === "light"));
  btn.setAttribute("aria-label", theme === "light" ? "Switch to dark theme" : "Switch to light theme");
  btn.addEventListener("click", toggleTheme);
  document.getElementById("help").addEventListener("click", (ev) => {
    if (ev.target.matches("[data-close]") || ev.target.id === "help") toggleHelp(false);
  });
  auth.onChange((_user, why) => {
    renderUser();
    if (why === "expired") {
      toast("Your session has ended. Please sign in again.", "error");
      navigate("#/login");
    }
  });
  window.addEventListener("hashchange", route);
  window.addEventListener("medtwin:alarm", alarmChanged);
  route();
  refreshBadge();
  setInterval(refreshBadge, 15000);
  window.medtwin = { navigate, version: 1 };
}

boot();
