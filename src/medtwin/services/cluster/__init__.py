"""Scale-out on PostgreSQL: stateless ingest workers, one owner per patient shard.

The partitioning rule (docs/scaling.md):

* **Ingest is stateless.** Any worker may receive any message: N ``medtwin worker`` processes
  share the MQTT load through an MQTT v5 shared subscription (``$share/<group>/...``, the broker
  balances per message), HL7 v2 and FHIR go to any HTTP instance behind a load balancer. Every
  worker writes to the one PostgreSQL with the idempotent key-table insert
  (:mod:`medtwin.store.pg_write`): a reading delivered to two workers is stored once.
* **Patient state has one owner.** Scores, alarms and activity keep per-patient state (trends,
  persistence, escalation timers), so each patient's readings must reach one process, whichever
  worker committed them. Patients are hashed into shards (``crc32(id) % 4096 % shards``); each
  owner process holds the shards' PostgreSQL advisory locks (:mod:`.node`) and reads the change
  feed (:mod:`.relay`) for readings of its shards committed by *any* worker, in commit-safe
  order. A dead owner's shards are taken over by the others within a rebalance interval, resuming
  from the saved feed position.

``start_cluster(runtime)`` makes a process an owner: it starts the monitoring services (scores,
alarms, activity) restricted to the owned patients and the node that elects and feeds them.
"""

from __future__ import annotations

from typing import Any

from medtwin.services.cluster.node import ClusterNode, enable_feed

__all__ = ["ClusterNode", "enable_feed", "start_cluster"]


def start_cluster(
    runtime: Any, *, shards: int | None = None, rebalance_s: float = 2.0, poll_s: float = 0.1,
    monitoring: bool = True,
) -> ClusterNode:  # fmt: skip
    """Start the shard owner of this process (and its monitoring services, unless told not to)."""
    node = ClusterNode(runtime, shards or getattr(runtime.settings, "cluster_shards", 0) or 64,
                       rebalance_s=rebalance_s, poll_s=poll_s)  # fmt: skip
    runtime.services["cluster"] = node
    if monitoring:
        from medtwin.services.monitoring.activity import ActivityService
        from medtwin.services.monitoring.alarms.service import AlarmService
        from medtwin.services.monitoring.scoring import ScoringService

        alarms = AlarmService.attach(runtime).start()  # owns nothing yet: restores nothing
        ScoringService().attach(runtime).start()
        ActivityService().attach(runtime).start()

        def shards_pred(shards: set[int]) -> Any:
            return lambda twin: node.shard_of(twin) in shards

        node.on_gain.append(lambda s: alarms.adopt(shards_pred(s)))
        node.on_lose.append(lambda s: alarms.release(shards_pred(s)))
    runtime.add_stopper(node.stop)  # stoppers run in reverse: the node stops before the services
    node.start()
    return node
