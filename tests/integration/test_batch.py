"""POST /v1/events/{type}/batch: many events in one request, all or nothing
on the way in (one bad event and none is produced, the error naming the
event's index and field), each acknowledged by the broker before the 202.
docs/security.md has the limits; the broker-outage case is in
test_broker_outage.py."""
import random

import pytest

import events
from harness import TEST_PUBLISHER, Hub, wait_until


@pytest.fixture(scope="module")
def hub(broker):
    hub = Hub(broker, {"housing": ["admission"]}, ingest_extra="  max_batch_events: 100\n",
              publishers={
                  TEST_PUBLISHER: {"rate_limit": {"events_per_second": 100000,
                                                  "burst": 100000}},
                  "throttled": {"publishes": ["admission"],
                                "rate_limit": {"events_per_second": 1, "burst": 5}},
              })
    yield hub
    hub.stop()


def batch(count, seed):
    rng = random.Random(seed)
    return [events.admission(rng) for _ in range(count)]


def refused(hub, broker, body, status, code, field, **kwargs):
    before = broker.end_offsets()
    answer = hub.post("admission/batch", body, **kwargs)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["code"] == code, error
    assert error.get("field") == field, error
    assert broker.end_offsets() == before, "a refused batch must not reach Kafka"
    return error


def test_a_batch_is_acknowledged_event_by_event(hub, broker):
    sent = batch(60, 1)
    sent[0]["event_id"] = "6f0a3c1e-2b7d-4e8a-9c51-0d2e4f6a8b90"  # a sender's own id is kept
    before = broker.end_offsets()
    answer = hub.post("admission/batch", sent)
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["accepted"] == 60 and body["topic"] == "admission"
    ids = [e["event_id"] for e in body["events"]]
    assert len(set(ids)) == 60 and ids[0] == sent[0]["event_id"]
    assert broker.end_offsets()["admission"] == before["admission"] + 60
    on_topic = {headers["event_id"] for _, _, headers in broker.read_topic("admission")}
    assert set(ids) <= on_topic
    partner = hub.partners["housing"]
    wait_until(lambda: set(ids) <= {e["event_id"] for e in partner.delivered_events()}, 60,
               "every event of the batch delivered")
    delivered = {e["event_id"]: e for e in partner.delivered_events()}
    for event, event_id in zip(sent, ids):
        assert delivered[event_id]["person"] == event["person"]


def test_one_bad_event_refuses_the_whole_batch(hub, broker):
    body = batch(10, 2)
    body[7]["person"]["nhs_number"] = events.invalid_nhs_number(random.Random(3))
    error = refused(hub, broker, body, 422, "invalid_event", "events[7].person.nhs_number")
    assert "events[7].person.nhs_number" in error["message"]


def test_an_event_as_another_organisation_refuses_the_batch(hub, broker):
    body = batch(5, 4)
    body[2]["source_ods_code"] = "RYY"
    refused(hub, broker, body, 403, "source_not_allowed", "events[2].source_ods_code")


def test_a_batch_must_be_a_non_empty_array_within_the_limit(hub, broker):
    refused(hub, broker, [], 422, "invalid_batch", "events")
    refused(hub, broker, batch(1, 5)[0], 422, "invalid_batch", "events")
    refused(hub, broker, [1, 2], 422, "invalid_event", "events[0]")
    error = refused(hub, broker, batch(101, 6), 413, "batch_too_large", "events")
    assert "100" in error["message"] and "101" in error["message"]
    refused(hub, broker, "[{]", 400, "malformed_json", None)


def test_a_batch_counts_against_the_rate_limit_event_by_event(hub, broker):
    key = hub.keys["throttled"]
    error = refused(hub, broker, batch(6, 7), 413, "batch_over_rate_limit", "events", key=key)
    assert "burst 5" in error["message"]
    answer = hub.post("admission/batch", batch(5, 8), key=key)
    assert answer.status_code == 202, answer.text
    answer = hub.post("admission/batch", batch(5, 9), key=key)
    assert answer.status_code == 429, answer.text
    assert int(answer.headers["Retry-After"]) >= 1


def test_one_event_keeps_its_own_size_limit(hub, broker):
    """httpd admits bodies up to the batch limit; the single-event endpoint
    still refuses more than max_body_bytes, and says where many go."""
    event = batch(1, 10)[0]
    event["notes"] = "x" * 70000
    before = broker.end_offsets()
    answer = hub.post("admission", event)
    assert answer.status_code == 413, answer.text
    assert answer.json()["error"]["code"] == "body_too_large"
    assert "/v1/events/admission/batch" in answer.json()["error"]["message"]
    assert broker.end_offsets() == before


def test_unauthenticated_batches_are_refused_before_parsing(hub, broker):
    refused(hub, broker, "not even json", 401, "unauthenticated", "Authorization", key=None)
