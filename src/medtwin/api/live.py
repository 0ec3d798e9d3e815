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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

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
                    if s.patients is None or o.twin_id in s.patients:
                        s.pending_obs[(o.twin_id, o.code)] = o
            return
        if isinstance(event, TwinChanged | RelationshipChanged):
            for s in self.subs:
                if s.scope.startswith("ward:"):
                    s.patients = self._ward_patients(s.scope[5:])
            msg: dict[str, Any] = {"type": "topology"}
        elif isinstance(event, Generic):
            msg = {"type": event.type, "data": event.data}
        else:
            return
        data = msg.get("data") if isinstance(msg.get("data"), dict) else {}
        twin, ward = data.get("twin"), data.get("ward")
        for s in self.subs:
            # a room's environment alarm is not about a patient: it carries the ward it belongs to
            in_ward = ward is not None and s.scope == f"ward:{ward}"
            if twin is not None and s.patients is not None and twin not in s.patients and not in_ward:
                continue
            if len(s.pending_events) >= MAX_EVENTS:
                s.pending_events.pop(0)
                s.dropped += 1
            s.pending_events.append(msg)
            s.wake.set()

    def _ward_patients(self, ward_id: str) -> set[str]:
        return {p.id for p in self.rt.registry.patients_in(ward_id)}

    async def serve(self, ws: WebSocket, scope: str, patients: set[str] | None) -> None:
        await ws.accept()
        sub = Subscriber(scope=scope, patients=patients)
        self.subs.add(sub)
        sender = asyncio.create_task(self._sender(ws, sub))
        try:
            await ws.send_json(
                {
                    "type": "hello",
                    "scope": scope,
                    "interval_s": self.interval,
                    "patients": sorted(patients) if patients is not None else None,
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


@router.websocket("/ws/ward/{ward_id}")
async def ward_feed(ws: WebSocket, ward_id: str) -> None:
    hub = _hub(ws)
    if hub.rt.store.get_twin(ward_id) is None:
        await ws.close(code=4404, reason="unknown ward")
        return
    await hub.serve(ws, f"ward:{ward_id}", hub._ward_patients(ward_id))


@router.websocket("/ws/patient/{patient_id}")
async def patient_feed(ws: WebSocket, patient_id: str) -> None:
    hub = _hub(ws)
    if hub.rt.store.get_twin(patient_id) is None:
        await ws.close(code=4404, reason="unknown patient")
        return
    await hub.serve(ws, f"patient:{patient_id}", {patient_id})


@router.websocket("/ws/all")
async def all_feed(ws: WebSocket) -> None:
    hub = _hub(ws)
    await hub.serve(ws, "all", None)
