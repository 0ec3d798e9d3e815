// Small shared UI helpers: toasts, document title, focus after navigation.

import { h } from "./format.js";

export function toast(message, kind = "info", ms = 5000) {
  const box = document.getElementById("toasts");
  if (!box) return;
  const el = h(`div.toast.${kind}`, { role: kind === "error" ? "alert" : null }, message);
  box.append(el);
  setTimeout(() => el.remove(), ms);
}

export function setTitle(text) {
  document.title = text ? `${text} · medtwin` : "medtwin";
}

/** Move focus to the page heading after a route change (screen readers announce the new page). */
export function focusHeading(root) {
  const hd = root.querySelector("h1");
  if (hd) {
    hd.setAttribute("tabindex", "-1");
    hd.focus({ preventScroll: true });
  }
}

/** Describe an API error for a person: the problem's detail and its field errors. */
export function errorText(err) {
  if (!err) return "Unknown error";
  const fields = (err.errors || []).map((e) => `${e.field}: ${e.reason}`).join("; ");
  return fields ? `${err.message} (${fields})` : err.message || String(err);
}
