"""Ingest acknowledges only what the broker acknowledged: with the broker
stopped, a POST is answered 503 (carrying the event id to retry with) within
the produce timeout; once the broker is back, the same event is accepted and
delivered. Meanwhile ingest's /metrics says how many brokers its producer
has up (placehub_kafka_brokers_up, what the broker-unavailable alert reads)
and counts the 503s. Runs on its own broker, since it stops it."""
import random
import re
import time
import uuid

import requests

import events
from harness import free_port, wait_until


def ingest_metric(url, name, labels):
    """The value of one series on ingest's /metrics, or None."""
    text = requests.get(url + "/metrics", timeout=10).text
    match = re.search(rf"^{name}\{{{re.escape(labels)}\}} (\S+)$", text, re.M)
    return float(match.group(1)) if match else None


def test_503_while_kafka_is_down_then_accepted(make_hub, broker):
    operations_port = free_port()
    hub = make_hub({"housing": ["admission"]}, produce_timeout_ms=3000,
                   extra_config=f'operations:\n  ingest_listen: "127.0.0.1:{operations_port}"\n')
    operations = f"http://127.0.0.1:{operations_port}"
    brokers_up = ("placehub_kafka_brokers_up", 'client="placehub-ingest"')
    rng = random.Random(17)
    first = hub.post("admission", events.admission(rng))
    assert first.status_code == 202, first.text
    # librdkafka's statistics come every 5 s.
    wait_until(lambda: (ingest_metric(operations, *brokers_up) or 0) >= 1, 30,
               "ingest's producer to report its broker up")

    broker.stop()
    wait_until(lambda: ingest_metric(operations, *brokers_up) == 0, 30,
               "ingest's producer to report no broker up")
    event = events.admission(rng)
    event["event_id"] = str(uuid.uuid4())
    began = time.monotonic()
    refused = hub.post("admission", event)
    waited = time.monotonic() - began
    assert refused.status_code == 503, refused.text
    body = refused.json()
    assert body["error"]["code"] == "kafka_unavailable"
    assert body["event_id"] == event["event_id"], "the 503 names the event id to retry with"
    assert refused.headers.get("Retry-After") == "1"
    assert waited < 15, f"answered within the produce timeout, took {waited:.1f} s"

    # A batch is answered 503 too, with every event id to send it again with.
    batch = [events.admission(rng) for _ in range(3)]
    refused_batch = hub.post("admission/batch", batch)
    assert refused_batch.status_code == 503, refused_batch.text
    batch_ids = refused_batch.json()["event_ids"]
    assert len(set(batch_ids)) == 3 and refused_batch.json()["failed"] == [0, 1, 2]
    for member, event_id in zip(batch, batch_ids):
        member["event_id"] = event_id

    assert ingest_metric(operations, "placehub_ingest_requests_total",
                         'topic="admission",outcome="unavailable"') == 2

    broker.start()
    wait_until(lambda: (ingest_metric(operations, *brokers_up) or 0) >= 1, 60,
               "ingest's producer to report its broker up again")
    # The sender retries with the same event id until the broker is back.
    def retried():
        answer = hub.post("admission", event)
        return answer if answer.status_code == 202 else None
    accepted = wait_until(retried, 90, "ingest to accept again once Kafka is back", 0.5)
    assert accepted.json()["event_id"] == event["event_id"]

    again = hub.post("admission/batch", batch)
    assert again.status_code == 202, again.text
    assert [e["event_id"] for e in again.json()["events"]] == batch_ids

    partner = hub.partners["housing"]
    wanted = set(batch_ids) | {event["event_id"]}
    wait_until(lambda: wanted <= {e["event_id"] for e in partner.delivered_events()},
               90, "the retried event and batch to reach the partner")
    received = [e for e in partner.delivered_events() if e["event_id"] == event["event_id"]]
    for field, value in event.items():
        assert received[0][field] == value, field
