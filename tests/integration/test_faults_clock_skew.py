"""R9: device clocks skewed by up to +-10 minutes and 5 % of messages reordered, over MQTT.

Each reading is stored with the device's time (``effective``) and medtwin's receive time
(``received``); history queries are ordered by device time, and the latest state is the reading
with the newest device time, whatever the arrival order.
"""

from __future__ import annotations

import json
import random
import uuid
from datetime import timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from medtwin.core.validate import parse_time
from medtwin.testing.broker import Mosquitto
from tests.integration.reliability_helpers import T0, Hospital, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.timeout(120)]
DEVICES, MESSAGES = 20, 100


def test_skewed_clocks_and_reordering_store_both_times_and_query_by_device_time(tmp_path: Path) -> None:
    rnd = random.Random(9)
    skew = {d: timedelta(seconds=rnd.uniform(-600, 600)) for d in range(DEVICES)}
    msgs = []
    for k in range(MESSAGES):
        for d in range(DEVICES):
            t = (T0 + timedelta(seconds=k) + skew[d]).isoformat().replace("+00:00", "Z")
            body = {"device": f"MON-{d}", "patient": f"P{d}", "seq": k,
                    "readings": [{"code": "hr", "value": 50 + k, "unit": "/min", "time": t}]}  # fmt: skip
            msgs.append((d, k, f"hosp/devices/MON-{d}/obs", json.dumps(body)))
    # 5 % of the messages are delivered late: moved 1-40 positions further on
    order = list(range(len(msgs)))
    for i in rnd.sample(range(len(msgs)), len(msgs) // 20):
        j = min(len(order) - 1, order.index(i) + rnd.randint(1, 40))
        order.remove(i)
        order.insert(j, i)
    with Mosquitto() as broker:
        hosp = Hospital(str(tmp_path / "h.db"), "127.0.0.1", broker.port, "hosp")
        pub = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="s-" + uuid.uuid4().hex[:6], protocol=mqtt.MQTTv5
        )
        pub.max_inflight_messages_set(1)  # keep the publish order on the wire
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        try:
            before = hosp.rt.clock.now()
            for i in order:
                pub.publish(msgs[i][2], msgs[i][3], qos=1)
            assert wait_until(lambda: hosp.count() == len(msgs), 60), hosp.count()
            after = hosp.rt.clock.now()
            store = hosp.rt.store
            reordered_seen = 0
            for d in range(DEVICES):
                hist = store.history(f"P{d}", "8867-4")
                assert len(hist) == MESSAGES
                sent = [T0 + timedelta(seconds=k) + skew[d] for k in range(MESSAGES)]
                assert [o.effective for o in hist] == [parse_time(s.isoformat()) for s in sent]
                assert [o.value for o in hist] == [50.0 + k for k in range(MESSAGES)]
                assert all(before <= o.received <= after for o in hist)
                by_arrival = sorted(hist, key=lambda o: (o.received, o.id or 0))
                reordered_seen += by_arrival != hist
                latest = store.latest(f"P{d}")["8867-4"]
                assert latest.effective == hist[-1].effective and latest.value == 50.0 + MESSAGES - 1
                desc = store.history(f"P{d}", "8867-4", descending=True, limit=5)
                assert [o.value for o in desc] == [50.0 + k for k in range(MESSAGES - 1, MESSAGES - 6, -1)]
                window = store.history(f"P{d}", "8867-4", start=sent[10], end=sent[20])
                assert [o.value for o in window] == [50.0 + k for k in range(10, 20)]
            assert reordered_seen > 0  # the reordering did reach the store
        finally:
            pub.loop_stop()
            pub.disconnect()
            hosp.stop()
