// Who is using the dashboard. With the security service (POST /api/auth/login in the OpenAPI
// document) signing in asks for the staff id and password, keeps the short-lived JWT access token and
// the one-time refresh token in sessionStorage (this tab only), sends "Authorization: Bearer <token>"
// on every request and ?token= on WebSockets, and trades the refresh token for a new pair when the
// server answers 401 (or closes a feed with 4401). Without the service, signing in only records a
// staff id, display name and role in this browser. Names shown for patients are whatever the API
// sends (it pseudonymises them for roles that may not see names).

const PROFILE_KEY = "medtwin.user";
export const STAFF_ID = /^[A-Za-z0-9._-]{1,64}$/;
const TOKEN_KEY = "medtwin.token";
const REFRESH_KEY = "medtwin.refresh";

export const ROLES = [
  ["nurse", "Nurse"],
  ["charge_nurse", "Charge nurse"],
  ["physician", "Physician"],
  ["trainee", "Trainee (pseudonyms)"],
  ["researcher", "Researcher (pseudonyms)"],
  ["remote_care_nurse", "Remote-care nurse"],
  ["operations", "Operations manager"],
  ["safety_officer", "Safety officer"],
  ["admin", "Administrator"],
];

function read(storage, key) {
  try {
    return storage.getItem(key);
  } catch {
    return null;
  }
}

function write(storage, key, value) {
  try {
    if (value === null) storage.removeItem(key);
    else storage.setItem(key, value);
  } catch {
    /* storage disabled: the session lasts as long as the page */
  }
}

function decodeJwt(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "=")));
  } catch {
    return {};
  }
}

const listeners = new Set();

export const auth = {
  user: null, // {id, name, role}
  token: null,
  _refreshing: null,

  load() {
    const raw = read(localStorage, PROFILE_KEY);
    try {
      this.user = raw ? JSON.parse(raw) : null;
    } catch {
      this.user = null;
    }
    this.token = read(sessionStorage, TOKEN_KEY);
    // an expired access token is kept: the first request answers 401 and the refresh token renews it
    return this;
  },

  signedIn() {
    return this.user !== null && typeof this.user.id === "string" && STAFF_ID.test(this.user.id);
  },

  /** The staff id recorded as "by" on actions. */
  actor() {
    return this.user?.id || "unknown";
  },

  headers() {
    return this.token ? { Authorization: `Bearer ${this.token}` } : {};
  },

  /** WebSocket URL for a path, with the token as a query parameter when there is one. */
  wsUrl(path) {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const sep = path.includes("?") ? "&" : "?";
    return `${proto}//${location.host}${path}${this.token ? `${sep}token=${encodeURIComponent(this.token)}` : ""}`;
  },

  /**
   * Sign in. With a server login endpoint: POST {username, password, role} and keep the returned
   * token ("access_token" or "token"); the server's claims (name, role) win over the form's.
   */
  async login({ id, name, role, password }, serverLogin) {
    id = String(id || "").trim();
    if (!id) throw new Error("Enter your staff id");
    if (!STAFF_ID.test(id)) throw new Error("A staff id is 1-64 letters, digits, '.', '_' or '-' (no spaces)");
    name = String(name || "").trim() || id;
    if (serverLogin) {
      const res = await fetch("/api/auth/login", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ username: id, password, role }),
      });
      const body = await res.json().catch(() => ({}));
      if (!res.ok) throw new Error(body.detail || body.title || `Sign-in failed (HTTP ${res.status})`);
      const token = body.access_token || body.token;
      if (!token) throw new Error("The server answered without a token");
      const claims = decodeJwt(token);
      this.token = token;
      write(sessionStorage, TOKEN_KEY, token);
      write(sessionStorage, REFRESH_KEY, body.refresh_token || null);
      this.user = {
        id: claims.sub || id,
        name: body.name || claims.name || name,
        role: body.role || claims.role || role,
      };
    } else {
      this.token = null;
      this.user = { id, name: name.slice(0, 80), role };
    }
    write(localStorage, PROFILE_KEY, JSON.stringify(this.user));
    listeners.forEach((fn) => fn(this.user));
    return this.user;
  },

  logout() {
    if (this.token) {
      // end the server session too (the token goes on the deny-list; the refresh token dies)
      fetch("/api/auth/logout", { method: "POST", headers: this.headers(), keepalive: true }).catch(() => {});
    }
    this.user = null;
    this.token = null;
    write(localStorage, PROFILE_KEY, null);
    write(sessionStorage, TOKEN_KEY, null);
    write(sessionStorage, REFRESH_KEY, null);
    listeners.forEach((fn) => fn(null));
  },

  /**
   * Trade the refresh token for a new access token (and the next refresh token). Resolves true on
   * success; concurrent callers share one request (a refresh token works only once).
   */
  refresh() {
    if (this._refreshing) return this._refreshing;
    const rt = read(sessionStorage, REFRESH_KEY);
    if (!rt) return Promise.resolve(false);
    this._refreshing = fetch("/api/auth/refresh", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ refresh_token: rt }),
    })
      .then(async (res) => {
        if (!res.ok) return false;
        const body = await res.json();
        this.token = body.access_token;
        write(sessionStorage, TOKEN_KEY, body.access_token);
        write(sessionStorage, REFRESH_KEY, body.refresh_token);
        return true;
      })
      .catch(() => false)
      .finally(() => {
        this._refreshing = null;
      });
    return this._refreshing;
  },

  /** The server rejected our token: forget it and ask for a new sign-in. */
  expired() {
    if (this.token) {
      this.token = null;
      write(sessionStorage, TOKEN_KEY, null);
      write(sessionStorage, REFRESH_KEY, null);
    }
    listeners.forEach((fn) => fn(this.user, "expired"));
  },

  onChange(fn) {
    listeners.add(fn);
    return () => listeners.delete(fn);
  },
};
