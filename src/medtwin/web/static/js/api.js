// HTTP client: JSON in and out, RFC 9457 problem+json errors, bearer token, server clock offset,
// and feature discovery from the OpenAPI document (pages adapt while other services are not installed).

import { auth } from "./auth.js";

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
    this.errors = problem?.errors || [];
  }
}

let offsetMs = 0; // server clock - client clock, from the Date header (1 s resolution)
let offsetSamples = 0;

/** The server's "now" in ms since the epoch, for data ages (the browser's clock may be off). */
export function serverNow() {
  return Date.now() + offsetMs;
}

function noteDate(res) {
  const d = res.headers.get("date");
  if (!d || offsetSamples >= 5) return;
  const t = Date.parse(d);
  if (Number.isNaN(t)) return;
  // The header is truncated to the second: add half a second to centre the estimate.
  const sample = t + 500 - Date.now();
  offsetMs = offsetSamples === 0 ? sample : (offsetMs * offsetSamples + sample) / (offsetSamples + 1);
  offsetSamples += 1;
  if (Math.abs(offsetMs) < 1500) offsetMs = 0; // within the header's resolution: trust the local clock
}

export async function api(path, { method = "GET", body, signal, query, retried = false } = {}) {
  let url = path;
  if (query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
    const s = q.toString();
    if (s) url += (url.includes("?") ? "&" : "?") + s;
  }
  const headers = { Accept: "application/json", ...auth.headers() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
    cache: "no-store",
  });
  noteDate(res);
  if (res.status === 401) {
    if (!retried && auth.token && (await auth.refresh())) return api(path, { method, body, signal, query, retried: true });
    auth.expired();
    throw new ApiError(401, { title: "Not signed in", detail: "Your session has ended; please sign in again." });
  }
  const type = res.headers.get("content-type") || "";
  const data = type.includes("json") ? await res.json().catch(() => null) : null;
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

// ------------------------------------------------------------------ feature discovery
let featurePromise = null;

/**
 * Which optional API routes this server has, from /openapi.json (fetched once). If the document is
 * not available (disabled in production), every feature is assumed present and calls fail loudly.
 */
export function features() {
  if (!featurePromise) {
    featurePromise = fetch("/openapi.json", { headers: auth.headers(), cache: "no-store" })
      .then((r) => (r.ok ? r.json() : null))
      .then((doc) => {
        const paths = doc && doc.paths ? Object.keys(doc.paths) : null;
        const has = (p) => (paths === null ? true : paths.includes(p));
        return {
          known: paths !== null,
          alarms: has("/api/alarms"),
          alarmActions: has("/api/alarms/{alarm_id}/acknowledge") || has("/api/alarms/{id}/acknowledge") ||
            (paths !== null && paths.some((p) => /^\/api\/alarms\/\{[^}]+\}\/acknowledge$/.test(p))) || paths === null,
          chart: paths === null || paths.some((p) => /^\/api\/twins\/\{[^}]+\}\/chart$/.test(p)),
          scores: paths === null || paths.some((p) => /^\/api\/twins\/\{[^}]+\}\/scores$/.test(p)),
          fluid: paths === null || paths.some((p) => /^\/api\/twins\/\{[^}]+\}\/fluid-balance$/.test(p)),
          amend: paths === null || paths.some((p) => /^\/api\/observations\/\{[^}]+\}\/amend$/.test(p)),
          login: paths !== null && paths.includes("/api/auth/login"),
        };
      })
      .catch(() => ({ known: false, alarms: true, alarmActions: true, chart: true, scores: true, fluid: true, amend: true, login: false }));
  }
  return featurePromise;
}

/** Forget the cached feature list (after a colleague's router is installed and the page reloaded). */
export function resetFeatures() {
  featurePromise = null;
}

// ------------------------------------------------------------------ alarms
/**
 * GET /api/alarms, or null when the alarm service is absent (404) or not running (503): pages then
 * say so instead of showing "no alarms", which would be a false reassurance.
 */
export async function fetchAlarms(query, feats) {
  if (feats && !feats.alarms) return null;
  try {
    return await api("/api/alarms", { query });
  } catch (e) {
    if (e.status === 404 || e.status === 503) return null;
    throw e;
  }
}

// ------------------------------------------------------------------ small shared look-ups
const twinCache = new Map();

/** A twin by id, cached for the page's lifetime (names of staff, wards, rooms). */
export function twin(id) {
  if (!twinCache.has(id)) twinCache.set(id, api(`/api/twins/${encodeURIComponent(id)}`).catch(() => null));
  return twinCache.get(id);
}

export function clearTwinCache() {
  twinCache.clear();
}
