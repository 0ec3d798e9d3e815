"""``medtwin gateway``: store-and-forward for wards and homes.

Local devices (MQTT on the local broker, HTTP, tailed newline-delimited JSON files) -> on-disk
outbox (SQLite, synchronous=FULL) -> hospital (MQTT QoS 1 or HTTPS), deleted from the outbox only
when the hospital confirms the commit. See docs/reliability.md.
"""

from medtwin.gateway.config import GatewayConfig
from medtwin.gateway.outbox import Outbox, OutboxFull, Record

__all__ = ["GatewayConfig", "Outbox", "OutboxFull", "Record"]
