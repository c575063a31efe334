"""End to end on a real Kafka broker: events POSTed to ingest reach the
simulated partners subscribed to their topics, field by field unaltered, none
missing, in order per person; a partner that fails is retried, never skipped."""
import concurrent.futures
import json
import os
import random
import struct
import time

import pytest

import events
from harness import REPO, TOPICS, wait_until

PARTNERS = {"housing": ["admission", "discharge"],
            "leisure": ["referral", "employment-support"]}


def post_all(hub, batch, workers=16, placed=None):
    """POSTs (type, event) pairs concurrently; returns {event_id: (type, event)}.
    placed, a dict, gets {event_id: (topic, partition, offset)} as ingest
    reported them."""
    def post(item):
        event_type, event = item
        answer = hub.post(event_type, event)
        assert answer.status_code == 202, f"{event_type}: {answer.status_code} {answer.text}"
        body = answer.json()
        assert body["partition"] >= 0 and body["offset"] >= 0, \
            f"202 without the place the broker wrote the event at: {body}"
        return body["event_id"], item, (body["topic"], body["partition"], body["offset"])
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        answers = list(pool.map(post, batch))
    if placed is not None:
        placed.update((event_id, where) for event_id, _, where in answers)
    return {event_id: item for event_id, item, _ in answers}


def test_thousand_events_arrive_unaltered(make_hub, broker, capsys):
    hub = make_hub(PARTNERS)
    rng = random.Random(20261122)
    batch = [(TOPICS[i % 4], events.make(TOPICS[i % 4], rng, with_hub_fields=(i % 2 == 0)))
             for i in range(1000)]
    started = time.monotonic()
    placed = {}
    accepted = post_all(hub, batch, placed=placed)
    assert len(accepted) == 1000, "every POST got its own event id"
    # The broker's acknowledgement names where each event was written: two
    # events in one place would mean one of them was not written at all.
    assert len(set(placed.values())) == 1000, \
        f"events acknowledged at the same offset: {sorted(placed.values())}"

    for event_id, (event_type, sent) in accepted.items():
        if "event_id" in sent:
            assert sent["event_id"] == event_id, "ingest kept the sender's event id"

    expected = {pid: {eid for eid, (t, _) in accepted.items() if t in topics}
                for pid, topics in PARTNERS.items()}
    for pid, ids in expected.items():
        partner = hub.partners[pid]
        try:
            wait_until(lambda: partner.count() >= len(ids), 180,
                       f"{pid} to receive {len(ids)} events (has {partner.count()})")
        except AssertionError:
            got = {r["json"].get("event_id") for r in partner.requests() if "json" in r}
            missing = {event_id: placed[event_id] for event_id in ids - got}
            raise AssertionError(f"{pid} never received, as ingest placed them: {missing}; "
                                 f"partition ends: {broker.partition_ends()}")
    elapsed = time.monotonic() - started

    for pid, ids in expected.items():
        recorded = hub.partners[pid].requests()
        received = [r["json"] for r in recorded]
        received_ids = [e["event_id"] for e in received]
        assert len(received_ids) == len(set(received_ids)), f"{pid} got duplicates"
        assert set(received_ids) == ids, f"{pid}: missing {ids - set(received_ids)}"
        for request, event in zip(recorded, received):
            event_type, sent = accepted[event["event_id"]]
            assert request["headers"].get("Idempotency-Key") == event["event_id"]
            assert request["headers"].get("X-Placehub-Event-Type") == event_type
            hub_filled = {"event_id", "recorded_at"} - set(sent)
            assert set(event) == set(sent) | hub_filled, \
                f"{event['event_id']}: fields differ: {set(event) ^ set(sent)}"
            for field, value in sent.items():
                assert event[field] == value, f"{event['event_id']}: {field} altered"
            if "recorded_at" in hub_filled:
                assert event["recorded_at"].startswith("20") and event["recorded_at"].endswith("Z")

    # Offsets are stored only after a 2xx: once everything is delivered the
    # committed offsets reach the end of every topic the partner reads.
    ends = broker.end_offsets()
    for pid, topics in PARTNERS.items():
        wait_until(lambda: all(broker.committed(hub.group(pid), topics)[t] == ends[t]
                               for t in topics), 30, f"{pid}'s offsets committed")
    with capsys.disabled():
        print(f"\n[e2e] 1000 events POSTed and delivered in {elapsed:.1f} s "
              f"(broker started in {broker.start_seconds:.1f} s)")


def test_one_persons_events_arrive_in_order(make_hub):
    """Kafka keeps order within a partition; the person key puts one person's
    events of a topic on one partition, and dispatch hands a partner its
    events one at a time, so per person and topic they arrive as sent.
    (Across topics, e.g. an admission and the discharge after it, there is
    no such guarantee: they are different partitions.)"""
    hub = make_hub({"housing": ["admission", "discharge"]})
    rng = random.Random(7)
    people = [events.nhs_number(rng) for _ in range(6)]

    def send_story(nhs):
        sent = {"admission": [], "discharge": []}
        for step in range(10):
            event_type = "admission" if step % 2 == 0 else "discharge"
            event = events.make(event_type, rng, nhs=nhs)
            event["encounter_id"] = f"step-{step}"
            answer = hub.post(event_type, event)
            assert answer.status_code == 202, answer.text
            sent[event_type].append(answer.json()["event_id"])
        return nhs, sent

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        stories = dict(pool.map(send_story, people))
    partner = hub.partners["housing"]
    everything = {eid for sent in stories.values() for ids in sent.values() for eid in ids}
    wait_until(lambda: everything <= {e["event_id"] for e in partner.delivered_events()}, 60,
               "60 events delivered")
    for nhs, sent in stories.items():
        for event_type, ids in sent.items():
            arrived = [e["event_id"] for e in partner.delivered_events() if e["event_id"] in ids]
            assert arrived == ids, f"{event_type} events of one person arrived out of order"


def test_failing_partner_is_retried_and_nothing_is_skipped(make_hub, broker):
    hub = make_hub({"housing": ["admission"]})
    partner = hub.partners["housing"]
    partner.behave(status=503, times=6)
    rng = random.Random(11)
    ids = [hub.post("admission", events.admission(rng)).json()["event_id"] for _ in range(20)]
    # The module's broker holds earlier tests' events too (a new group starts
    # from the earliest offset): look at this test's events only.
    def ours():
        return [e["event_id"] for e in partner.delivered_events() if e["event_id"] in ids]
    wait_until(lambda: set(ours()) == set(ids), 60, "all 20 delivered")
    assert sorted(ours()) == sorted(ids), "each event delivered exactly once"
    statuses = [r["status"] for r in partner.requests()]
    assert statuses.count(503) == 6, "the six failures were answered and retried"


def test_offset_is_stored_only_after_the_partner_accepted(make_hub, broker):
    hub = make_hub({"housing": ["admission"]})
    partner = hub.partners["housing"]
    partner.behave(status=500)  # until told otherwise
    rng = random.Random(13)
    ids = [hub.post("admission", events.admission(rng)).json()["event_id"] for _ in range(5)]
    wait_until(lambda: partner.count() >= 3, 30, "dispatch to try the partner")
    assert hub.dispatch.stop() == 0, hub.dispatch.output()
    committed = broker.committed(hub.group("housing"), ["admission"])["admission"]
    assert committed == 0, "nothing may be committed while the partner refuses"

    partner.behave(status=200)
    hub.start_dispatch()
    wait_until(lambda: {e["event_id"] for e in partner.delivered_events()} >= set(ids), 60,
               "the 5 events delivered after the restart")


def test_version_1_senders_and_corrections(make_hub, broker):
    """Schema version 2 added supersedes_event_id. A sender still writing
    version 1 events is accepted unchanged: its event is written with the
    version 1 schema (its id on Kafka) and delivered as the version 1 event
    it is. A version 2 correction names the event it replaces and arrives
    with it; version 1 cannot carry the field."""
    hub = make_hub({"housing": ["admission"]})
    partner = hub.partners["housing"]
    catalogue = json.load(open(os.path.join(REPO, "schemas", "catalogue.json")))["schemas"]
    ids = {e["version"]: e["id"] for e in catalogue if e["subject"] == "admission-value"}
    rng = random.Random(17)

    original = events.admission(rng)
    # A correction reaches a partner cut to what it was sent of the original
    # (docs/governance.md): the ward it corrects must have been sent.
    original.update(schema_version=1, event_type="ADMITTED", cancels_event_id=None,
                    ward="Ward 7 (the wrong one)")
    del original["supersedes_event_id"]
    answer = hub.post("admission", original)
    assert answer.status_code == 202, answer.text
    original_id = answer.json()["event_id"]

    refused = hub.post("admission", dict(original, supersedes_event_id=original_id))
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["field"] == "supersedes_event_id"

    correction = dict(original, schema_version=2, supersedes_event_id=original_id,
                      ward="Ward 9 (the right one)")
    answer = hub.post("admission", correction)
    assert answer.status_code == 202, answer.text
    correction_id = answer.json()["event_id"]
    latest = hub.post("admission", dict(correction, supersedes_event_id=None,
                                        schema_version=None))
    assert latest.status_code == 202, latest.text

    framed = {headers["event_id"]: value for _, value, headers in broker.read_topic("admission")}
    assert framed[original_id][:5] == b"\0" + struct.pack(">I", ids[1])
    assert framed[correction_id][:5] == b"\0" + struct.pack(">I", ids[2])
    assert framed[latest.json()["event_id"]][:5] == b"\0" + struct.pack(">I", max(ids.values()))

    wanted = {original_id, correction_id, latest.json()["event_id"]}
    wait_until(lambda: wanted <= {e["event_id"] for e in partner.delivered_events()}, 60,
               "the three events delivered")
    got = {e["event_id"]: e for e in partner.delivered_events() if e["event_id"] in wanted}
    assert got[original_id]["schema_version"] == 1
    assert "supersedes_event_id" not in got[original_id]
    assert got[correction_id]["schema_version"] == 2
    assert got[correction_id]["supersedes_event_id"] == original_id
    assert got[correction_id]["ward"] == "Ward 9 (the right one)"
    assert got[latest.json()["event_id"]]["schema_version"] == 2
    assert got[latest.json()["event_id"]]["supersedes_event_id"] is None
