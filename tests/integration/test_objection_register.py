"""The objection register enforced by dispatch on a real broker: an
objection recorded through ingest keeps a person's later events from a
secondary-use partner (with an audit record naming the scope) while a
direct-care partner still gets them; a withdrawal lets them through again;
an objection recorded a moment before the event is honoured whether
dispatch is stopped or running (the event waits until the register is known
complete up to its intake); a cancellation is not held back by it."""
import json
import random

import requests

import events
from harness import TEST_PUBLISHER, permissive_agreement, wait_until

NURSING, RESEARCH = "community-nursing", "research"


def make(make_hub, start_dispatch=True):
    secondary = dict(permissive_agreement(RESEARCH, ["admission"]), direct_care=False,
                     id="research-secondary-use")
    return make_hub({NURSING: ["admission"], RESEARCH: ["admission"]},
                    start_dispatch=start_dispatch,
                    partner_options={RESEARCH: {"agreements": [secondary]}},
                    publishers={TEST_PUBLISHER: {"objections": True,
                                                 "rate_limit": {"events_per_second": 1000,
                                                                "burst": 1000}}})


def objection(hub, path, nhs, scope="national_data_opt_out"):
    answer = requests.post(hub.ingest_url + path, timeout=60,
                           headers={"Authorization": f"Bearer {hub.default_key}",
                                    "Content-Type": "application/json"},
                           data=json.dumps({"nhs_number": nhs, "scope": scope,
                                            "recorded_by": "gp-reception"}))
    assert answer.status_code == 202, answer.text
    return answer.json()


def admit(hub, rng, nhs, **fields):
    """An admission for nhs that no flag on the event itself keeps from
    anyone: only the register can."""
    answer = hub.post("admission", events.plain_admission(rng, nhs, **fields))
    assert answer.status_code == 202, answer.text
    return answer.json()["event_id"]


def arrived(hub, partner_id):
    return {e["event_id"] for e in hub.partners[partner_id].delivered_events()}


def audit(hub):
    return [json.loads(value) for _, value, _ in hub.broker.read_topic(hub.audit_topic)]


def settled(hub, event_ids):
    """Waits until every partner has a final record for each event."""
    def done():
        seen = {(r.get("partner"), r.get("event_id")) for r in audit(hub)}
        return all((p, e) in seen for p in (NURSING, RESEARCH) for e in event_ids)
    wait_until(done, 60, "a final record for every event at every partner")


def suppression(hub, partner_id, event_id):
    [record] = [r for r in audit(hub) if r.get("record") == "suppression"
                and r["partner"] == partner_id and r["event_id"] == event_id]
    return record


def test_an_objection_keeps_later_events_from_secondary_use_only(make_hub):
    hub = make(make_hub)
    rng = random.Random(7001)
    objecting, other = events.nhs_number(rng), events.nhs_number(rng)
    objection(hub, "/v1/objections", objecting)
    kept, sent = admit(hub, rng, objecting), admit(hub, rng, other)
    settled(hub, [kept, sent])
    assert {kept, sent} <= arrived(hub, NURSING), "direct care is not stopped by an opt-out"
    assert sent in arrived(hub, RESEARCH)
    assert kept not in arrived(hub, RESEARCH), "the opt-out was not honoured"
    record = suppression(hub, RESEARCH, kept)
    assert record["reason"] == "objection:national_data_opt_out"
    assert record["agreement"] == "research-secondary-use"
    assert objecting not in json.dumps(record), "an NHS number in the audit record"

    objection(hub, "/v1/objections/withdraw", objecting)
    after = admit(hub, rng, objecting)
    wait_until(lambda: after in arrived(hub, RESEARCH), 60,
               "the person's event at research after the withdrawal")


def test_a_local_objection_to_one_partner_stops_only_that_partner(make_hub):
    hub = make(make_hub)
    rng = random.Random(7002)
    person = events.nhs_number(rng)
    objection(hub, "/v1/objections", person, scope=f"local:partner:{NURSING}")
    event_id = admit(hub, rng, person)
    settled(hub, [event_id])
    assert event_id in arrived(hub, RESEARCH)
    assert event_id not in arrived(hub, NURSING), "even direct care: the person objected to it"
    assert suppression(hub, NURSING, event_id)["reason"] == \
        f"objection:local:partner:{NURSING}"


def test_an_objection_just_before_the_event_holds_with_dispatch_stopped(make_hub):
    hub = make(make_hub, start_dispatch=False)
    rng = random.Random(7003)
    person = events.nhs_number(rng)
    objection(hub, "/v1/objections", person)
    event_id = admit(hub, rng, person)  # a millisecond or so later
    hub.start_dispatch()
    settled(hub, [event_id])
    assert event_id not in arrived(hub, RESEARCH)
    assert suppression(hub, RESEARCH, event_id)["reason"] == "objection:national_data_opt_out"


def test_an_objection_just_before_the_event_holds_with_dispatch_running(make_hub):
    """Dispatch runs and is idle, so it takes each event at once: the feed
    may not have applied the objection yet, and the event must wait for it."""
    hub = make(make_hub)
    rng = random.Random(7004)
    warm = admit(hub, rng, events.nhs_number(rng))
    settled(hub, [warm])  # dispatch is running and caught up
    kept = []
    for _ in range(8):
        person = events.nhs_number(rng)
        objection(hub, "/v1/objections", person)
        kept.append(admit(hub, rng, person))
    settled(hub, kept)
    leaked = set(kept) & arrived(hub, RESEARCH)
    assert not leaked, f"{len(leaked)} of {len(kept)} events overtook their objection"
    for event_id in kept:
        assert suppression(hub, RESEARCH, event_id)["reason"] == \
            "objection:national_data_opt_out"


def test_a_cancellation_is_not_held_back_by_the_register(make_hub):
    hub = make(make_hub)
    rng = random.Random(7005)
    person = events.nhs_number(rng)
    original = admit(hub, rng, person)
    wait_until(lambda: original in arrived(hub, RESEARCH), 60, "the admission at research")
    objection(hub, "/v1/objections", person)
    cancel = admit(hub, rng, person, cancels_event_id=original)
    wait_until(lambda: cancel in arrived(hub, RESEARCH), 60,
               "the cancellation at the partner that had the admission")
