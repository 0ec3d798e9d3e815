"""One settings object. Values come from ``MEDTWIN_*`` environment variables, then an optional
TOML file (``MEDTWIN_CONFIG`` or ``./medtwin.toml``), then these defaults, which serve the
embedded mode (one SQLite file in ``./data``)."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


def _bool(v: str) -> bool:
    return v.strip().lower() in ("1", "true", "yes", "on")


@dataclass
class Settings:
    data_dir: Path = Path("data")
    db: str = ""  # database URL or SQLite path; default <data_dir>/medtwin.db
    host: str = "127.0.0.1"
    port: int = 8080
    # MQTT ingest
    mqtt_enabled: bool = True
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1883
    mqtt_username: str = ""
    mqtt_password: str = ""
    mqtt_prefix: str = "medtwin/v1"
    mqtt_client_id: str = "medtwin-ingest"
    mqtt_shared_group: str = ""  # set to use $share/<group>/... (several workers)
    # HL7 v2 MLLP listener (0 = off)
    mllp_port: int = 0
    # ingest rules
    auto_register: bool = False
    max_future_s: float = 86_400.0
    # HTTP
    max_body_bytes: int = 1_048_576
    # writer
    commit_max_rows: int = 20_000
    commit_linger_s: float = 0.02
    commit_max_delay_s: float = 0.25
    # retention (0 = keep forever)
    retention_days: float = 0.0
    rollup_retention_days: float = 0.0  # PostgreSQL 1-minute rollups (hourly ones are kept)
    # scale-out (docs/scaling.md): patient shards of the owners on PostgreSQL (0 = one process owns
    # all), and the Dask scheduler of simulation sweeps ("" = run in this process)
    cluster_shards: int = 0
    dask_scheduler: str = ""
    # security (docs/security.md): authentication is always on; these tune it
    jwt_secret: str = ""  # base64url HS256 key (>= 32 bytes); default: a key file in data_dir
    jwt_key_file: str = ""  # default <data_dir>/keys/jwt-hs256.key, created 0600 on first start
    jwt_issuer: str = "medtwin"
    jwt_audience: str = "medtwin-api"
    access_token_minutes: float = 15.0
    refresh_token_hours: float = 12.0
    login_rate: str = "5/minute"  # per account and per client address
    rate_limit_user: str = "1200/minute"  # per signed-in user (0 or "" = off)
    rate_limit_device: str = "6000/minute"  # per device key
    rate_limit_anonymous: str = "300/minute"  # per client address, requests without credentials
    break_glass_max_minutes: int = 60
    break_glass_min_justification: int = 20
    cors_origins: str = ""  # comma-separated allow-list; empty = no cross-origin access
    hsts: bool = False  # send Strict-Transport-Security on plain HTTP too (behind a TLS proxy)
    trust_proxy: bool = False  # honour X-Forwarded-For / X-Forwarded-Proto
    metrics_public: bool = False  # /metrics without a token (closed monitoring network only)
    bootstrap_admin: str = ""  # "user:password" creates the first admin when no user exists
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def db_url(self) -> str:
        return self.db or str(self.data_dir / "medtwin.db")

    def __repr__(self) -> str:  # never print secrets (settings objects end up in logs and tracebacks)
        hidden = {"jwt_secret", "mqtt_password", "bootstrap_admin"}
        parts = (
            f"{f_.name}={'***' if f_.name in hidden and getattr(self, f_.name) else getattr(self, f_.name)!r}"
            for f_ in fields(self)
        )
        return f"Settings({', '.join(parts)})"

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        s = cls()
        cfg_path = os.environ.get("MEDTWIN_CONFIG") or (
            "medtwin.toml" if Path("medtwin.toml").exists() else ""
        )
        values: dict[str, Any] = {}
        if cfg_path:
            with open(cfg_path, "rb") as f:
                values.update(tomllib.load(f).get("medtwin", {}))
        known = {f_.name for f_ in fields(cls)}
        # Sub-tables such as [medtwin.alarms] or [medtwin.scoring] configure services (Settings.extra).
        for k in [k for k, v in values.items() if k not in known and isinstance(v, dict | list)]:
            s.extra[k] = values.pop(k)
        for f_ in fields(cls):
            env = os.environ.get("MEDTWIN_" + f_.name.upper())
            if env is not None:
                values[f_.name] = env
        values.update({k: v for k, v in overrides.items() if v is not None})
        for f_ in fields(cls):
            if f_.name not in values or f_.name == "extra":
                continue
            v = values[f_.name]
            cur = getattr(s, f_.name)
            if isinstance(cur, bool):
                v = _bool(v) if isinstance(v, str) else bool(v)
            elif isinstance(cur, int):
                v = int(v)
            elif isinstance(cur, float):
                v = float(v)
            elif isinstance(cur, Path):
                v = Path(v)
            setattr(s, f_.name, v)
        return s
