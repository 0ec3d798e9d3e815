"""Gateway settings: a TOML file (table ``[gateway]``), then ``MEDTWIN_GATEWAY_*`` environment
variables, then command-line overrides. Secrets (broker password, HTTPS token) come from the
environment or the file, never from the command line."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from medtwin.core.errors import ValidationError
from medtwin.core.ids import valid_id


@dataclass
class GatewayConfig:
    gateway_id: str = "gw-1"
    data_dir: Path = Path("data/gateway")
    # disk budget of the outbox (bytes of pending readings); alarm at warn_ratio, refusal at 100 %
    budget_bytes: int = 256 * 1024 * 1024
    warn_ratio: float = 0.8
    clear_ratio: float = 0.75
    min_free_bytes: int = 64 * 1024 * 1024  # refuse intake when the disk itself runs this low
    # local intake
    local_mqtt_host: str = "127.0.0.1"
    local_mqtt_port: int = 0  # 0 = no local MQTT intake
    local_prefix: str = "medtwin/v1"
    local_receive_max: int = 200  # MQTT v5 Receive Maximum: unacknowledged local messages held at most
    http_host: str = "127.0.0.1"
    http_port: int = 8090  # 0 = no HTTP intake (and no /healthz, /metrics)
    files: list[str] = field(default_factory=list)  # glob patterns of newline-delimited JSON files to tail
    file_poll_s: float = 0.5
    patients: dict[str, str] = field(default_factory=dict)  # device id -> patient id, when devices omit it
    # uplink to the hospital
    uplink: str = "mqtt"  # "mqtt" or "https"
    hospital_mqtt_host: str = "127.0.0.1"
    hospital_mqtt_port: int = 1883
    hospital_prefix: str = "medtwin/v1"
    hospital_username: str = ""
    hospital_password: str = ""
    hospital_tls: bool = False
    hospital_ca_file: str = ""
    hospital_url: str = ""  # https://hospital.example/ (POST /api/ingest)
    hospital_token: str = ""  # bearer token for the HTTPS uplink
    session_expiry_s: int = 7 * 24 * 3600
    ack_timeout_s: float = 30.0  # resend a message not confirmed as committed within this time
    max_inflight: int = 200  # uplink messages awaiting the hospital's commit confirmation
    max_readings_per_message: int = 500
    linger_s: float = 0.05  # wait this long for more readings before forwarding
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def outbox_path(self) -> Path:
        return self.data_dir / "outbox.db"

    def check(self) -> GatewayConfig:
        if not valid_id(self.gateway_id):
            raise ValidationError(
                "gateway id must be 1-64 letters, digits, '.', '_' or '-'", field="gateway_id"
            )
        if self.uplink not in ("mqtt", "https"):
            raise ValidationError("uplink must be 'mqtt' or 'https'", field="uplink")
        if self.uplink == "https" and not self.hospital_url:
            raise ValidationError("the https uplink needs hospital_url", field="hospital_url")
        if self.budget_bytes <= 0 or not 0 < self.warn_ratio < 1:
            raise ValidationError("budget_bytes must be > 0 and warn_ratio in (0, 1)", field="budget_bytes")
        return self

    @classmethod
    def load(cls, path: str | Path | None = None, **overrides: Any) -> GatewayConfig:
        values: dict[str, Any] = {}
        path = path or os.environ.get("MEDTWIN_GATEWAY_CONFIG")
        if path:
            with open(path, "rb") as f:
                values.update(tomllib.load(f).get("gateway", {}))
        for f_ in fields(cls):
            env = os.environ.get("MEDTWIN_GATEWAY_" + f_.name.upper())
            if env is not None:
                values[f_.name] = env
        values.update({k: v for k, v in overrides.items() if v is not None})
        cfg = cls()
        for f_ in fields(cls):
            if f_.name not in values:
                continue
            v, cur = values[f_.name], getattr(cfg, f_.name)
            if isinstance(cur, bool):
                v = v.strip().lower() in ("1", "true", "yes", "on") if isinstance(v, str) else bool(v)
            elif isinstance(cur, int):
                v = int(v)
            elif isinstance(cur, float):
                v = float(v)
            elif isinstance(cur, Path):
                v = Path(v)
            elif isinstance(cur, list) and isinstance(v, str):
                v = [p for p in v.split(",") if p]
            setattr(cfg, f_.name, v)
        return cfg.check()
