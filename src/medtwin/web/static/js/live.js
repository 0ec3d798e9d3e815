// Live feed over WebSocket with reconnection (exponential backoff with jitter, 0.5 s doubling to 15 s).
// The server sends {"type": "hello"}, then "observations" at most once a second, "alarm", "score",
// "topology" and "dropped" messages. After a reconnect the page is told (onReconnect) so that it can
// reload a snapshot: messages sent while the socket was down are not replayed.

import { auth } from "./auth.js";

const statusEl = () => document.getElementById("live-status");
const feeds = new Set();

function showStatus() {
  const el = statusEl();
  if (!el) return;
  const rank = { idle: 0, open: 1, connecting: 2, retrying: 3 };
  let state = "idle";
  for (const f of feeds) if ((rank[f.state] ?? 0) > rank[state]) state = f.state;
  const text = {
    idle: "Not live",
    connecting: "Connecting…",
    open: "Live",
    retrying: "Connection lost – retrying",
  }[state];
  if (el.dataset.state !== state) {
    el.dataset.state = state;
    el.textContent = text;
  }
}

export class Feed {
  /**
   * @param {string} path e.g. "/ws/ward/ICU"
   * @param {{onMessage: Function, onReconnect?: Function, onState?: Function}} handlers
   */
  constructor(path, { onMessage, onReconnect, onState }) {
    this.path = path;
    this.onMessage = onMessage;
    this.onReconnect = onReconnect || (() => {});
    this.onState = onState || (() => {});
    this.state = "connecting";
    this.attempt = 0;
    this.everOpened = false;
    this.closed = false;
    this.ws = null;
    this.timer = null;
    this.lastMessage = 0;
    feeds.add(this);
    this.connect();
  }

  setState(s) {
    this.state = s;
    this.onState(s);
    showStatus();
  }

  connect() {
    if (this.closed) return;
    this.setState(this.attempt === 0 ? "connecting" : "retrying");
    let ws;
    try {
      ws = new WebSocket(auth.wsUrl(this.path));
    } catch {
      this.retry();
      return;
    }
    this.ws = ws;
    ws.onmessage = (ev) => {
      this.lastMessage = performance.now();
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (msg.type === "hello") {
        const reconnect = this.everOpened;
        this.everOpened = true;
        this.attempt = 0;
        this.setState("open");
        if (reconnect) this.onReconnect(msg);
      }
      this.onMessage(msg);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.closed) return;
      if (ev.code === 4404) {
        this.setState("idle");
        this.onMessage({ type: "closed", code: ev.code, reason: ev.reason });
        return;
      }
      if (ev.code === 4403) {
        // signed in but not permitted to see this feed: say so instead of retrying forever
        this.setState("idle");
        this.onMessage({ type: "closed", code: ev.code, reason: ev.reason || "not permitted" });
        return;
      }
      if (ev.code === 4401 || ev.code === 1008) {
        // the access token expired or was revoked: renew it once, else sign in again
        auth.refresh().then((ok) => {
          if (ok) {
            this.attempt = 0;
            this.connect();
          } else auth.expired();
        });
        return;
      }
      this.retry();
    };
    ws.onerror = () => {
      /* onclose follows */
    };
  }

  retry() {
    if (this.closed) return;
    this.attempt += 1;
    this.setState("retrying");
    const base = Math.min(15000, 500 * 2 ** Math.min(this.attempt - 1, 5));
    const delay = base * (0.75 + Math.random() * 0.5);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    feeds.delete(this);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.onclose = null;
      ws.onmessage = null;
      try {
        ws.close(1000);
      } catch {
        /* already closed */
      }
    }
    showStatus();
  }
}

export function openFeed(path, handlers) {
  return new Feed(path, handlers);
}
