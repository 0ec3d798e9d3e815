"""WebSocket live feed per ward, per patient, or for the whole hospital.

The bus publishes from the writer thread; the hub moves each event onto the server's event
loop and into per-connection buffers. Observations are coalesced per (patient, code) and flushed
every ``interval`` seconds (1 Hz by default), so a dashboard gets at most one update per value
per second however fast devices send; other events (alarms, scores) go out at once. A slow
client cannot grow memory: its buffer keeps only the newest value per series and at most
``MAX_EVENTS`` pending events (the oldest are dropped and the client is told).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from medtwin.api.guard import admit
from medtwin.api.serialize import obs_json
from medtwin.core.events import Event, Generic, ObservationsRecorded, RelationshipChanged, TwinChanged
from medtwin.core.model import Observation
from medtwin.runtime import Runtime

log = logging.getLogger(__name__)
router = APIRouter(tags=["live"])
MAX_EVENTS = 500


@dataclass(eq=False)
class Subscriber:
    scope: str  # "ward:<id>", "patient:<id>", "all"
    patients: set[str] | None  # None = every patient
    pending_obs: dict[tuple[str, str], Observation] = field(default_factory=dict)
    pending_events: list[dict[str, Any]] = field(default_factory=list)
    dropped: int = 0
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    allow: Callable[[str], bool] | None = None  # the principal's access check per twin (None = all)
    expires: float | None = None  # the access token's expiry: the feed closes then (4401)
    seen: dict[str, bool] = field(default_factory=dict)  # memo of ``allow``

    def permits(self, twin: str) -> bool:
        if self.allow is None:
            return True
        ok = self.seen.get(twin)
        if ok is None:
            ok = self.seen[twin] = self.allow(twin)
        return ok


class LiveHub:
    def __init__(self, runtime: Runtime, loop: asyncio.AbstractEventLoop, interval: float = 1.0) -> None:
        self.rt = runtime
        self.loop = loop
        self.interval = interval
        self.subs: set[Subscriber] = set()
        self._unsubs: list[Callable[[], None]] = [
            runtime.bus.subscribe(Event, self._from_thread),
        ]

    def close(self) -> None:
        for u in self._unsubs:
            u()

    # called in whatever thread published
    def _from_thread(self, event: Event) -> None:
        if self.subs:
            with contextlib.suppress(RuntimeError):  # loop closed during shutdown
                self.loop.call_soon_threadsafe(self._dispatch, event)

    def _dispatch(self, event: Event) -> None:
        if isinstance(event, ObservationsRecorded):
            for s in self.subs:
                for o in event.observations:
                    if (s.patients is None or o.twin_id in s.patients) and s.permits(o.twin_id):
                        s.pending_obs[(o.twin_id, o.code)] = o
            return
        if isinstance(event, TwinChanged | RelationshipChanged):
            for s in self.subs:
                s.seen.clear()
                if s.scope.startswith("ward:"):
                    s.patients = self._ward_patients(s.scope[5:])
            msg: dict[str, Any] = {"type": "topology"}
        elif isinstance(event, Generic):
            msg = {"type": event.type, "data": event.data}
        else:
            return
        data = cast(dict[str, Any], msg.get("data") if isinstance(msg.get("data"), dict) else {})
        twin, ward = data.get("twin"), data.get("ward")
        for s in self.subs:
            # a room's environment alarm is not about a patient: it carries the ward it belongs to
            in_ward = ward is not None and s.scope == f"ward:{ward}"
            if twin is not None and s.patients is not None and twin not in s.patients and not in_ward:
                continue
            if isinstance(twin, str) and not s.permits(twin):
                continue
            if msg["type"] == "privacy_alert" and s.allow is not None:
                continue  # break-the-glass alerts: for the privacy officer's channels, not ward screens
            if len(s.pending_events) >= MAX_EVENTS:
                s.pending_events.pop(0)
                s.dropped += 1
            s.pending_events.append(msg)
            s.wake.set()

    def _ward_patients(self, ward_id: str) -> set[str]:
        return {p.id for p in self.rt.registry.patients_in(ward_id)}

    async def serve(
        self,
        ws: WebSocket,
        scope: str,
        patients: set[str] | None,
        allow: Callable[[str], bool] | None = None,
        expires: float | None = None,
    ) -> None:
        """Stream to an admitted (already accepted) WebSocket."""
        sub = Subscriber(scope=scope, patients=patients, allow=allow, expires=expires)
        if patients is not None and allow is not None:
            sub.patients = {x for x in patients if sub.permits(x)}
        self.subs.add(sub)
        sender = asyncio.create_task(self._sender(ws, sub))
        try:
            await ws.send_json(
                {
                    "type": "hello",
                    "scope": scope,
                    "interval_s": self.interval,
                    "patients": sorted(sub.patients) if sub.patients is not None else None,
                }
            )
            while True:  # the client may send pings; a closed socket ends the loop
                await ws.receive_text()
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            self.subs.discard(sub)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender

    async def _sender(self, ws: WebSocket, sub: Subscriber) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            timeout = max(0.0, self.interval - (loop.time() - last))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sub.wake.wait(), timeout=timeout)
            if sub.expires is not None and time.time() > sub.expires:
                await ws.close(code=4401, reason="token expired")
                return
            sub.wake.clear()
            events, sub.pending_events = sub.pending_events, []
            for e in events:
                await ws.send_json(e)
            if sub.dropped:
                await ws.send_json({"type": "dropped", "count": sub.dropped})
                sub.dropped = 0
            if loop.time() - last >= self.interval:
                last = loop.time()
                if sub.pending_obs:
                    obs, sub.pending_obs = sub.pending_obs, {}
                    await ws.send_json({"type": "observations", "items": [obs_json(o) for o in obs.values()]})


def _hub(ws: WebSocket) -> LiveHub:
    hub: LiveHub | None = getattr(ws.app.state, "hub", None)
    if hub is None:
        hub = LiveHub(
            ws.app.state.runtime,
            asyncio.get_running_loop(),
            interval=ws.app.state.runtime.settings.extra.get("live_interval_s", 1.0),
        )
        ws.app.state.hub = hub
    return hub


def _allow(ws: WebSocket, hub: LiveHub) -> tuple[Callable[[str], bool] | None, float | None]:
    """The principal's per-twin access check for filtering events (None for the ``all`` scope)."""
    from medtwin.api.guard import principal_of
    from medtwin.security.authz import event_visible
    from medtwin.security.policy import scope_of
    from medtwin.security.service import security_for

    p = principal_of(ws)
    if scope_of(p.role) == "all":
        return None, p.expires
    sec = security_for(hub.rt)
    return (lambda twin: event_visible(sec.scope, p, twin)), p.expires


@router.websocket("/ws/ward/{ward_id}")
async def ward_feed(ws: WebSocket, ward_id: str) -> None:
    if await admit(ws) is None:
        return
    hub = _hub(ws)
    if hub.rt.store.get_twin(ward_id) is None:
        await ws.close(code=4404, reason="unknown ward")
        return
    allow, expires = _allow(ws, hub)
    await hub.serve(ws, f"ward:{ward_id}", hub._ward_patients(ward_id), allow, expires)


@router.websocket("/ws/patient/{patient_id}")
async def patient_feed(ws: WebSocket, patient_id: str) -> None:
    if await admit(ws) is None:
        return
    hub = _hub(ws)
    if hub.rt.store.get_twin(patient_id) is None:
        await ws.close(code=4404, reason="unknown patient")
        return
    allow, expires = _allow(ws, hub)
    await hub.serve(ws, f"patient:{patient_id}", {patient_id}, allow, expires)


@router.websocket("/ws/all")
async def all_feed(ws: WebSocket) -> None:
    if await admit(ws) is None:
        return
    hub = _hub(ws)
    allow, expires = _allow(ws, hub)
    await hub.serve(ws, "all", None, allow, expires)
