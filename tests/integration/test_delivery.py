"""Delivery semantics on a real broker, one test per failure mode: a partner
down for 30 s, a 429 with Retry-After, a permanent 400, a partner that hangs,
dispatch killed with -9 mid-stream, and two dispatch instances sharing the
work with one of them killed. In every case each event ingest acknowledged
reaches the partner or the dead-letter topic; a duplicate carries the same
event id."""
import concurrent.futures
import datetime
import json
import random
import shutil
import signal
import tempfile
import time

import pytest
import requests

import events
from harness import Partner, wait_until


def post_many(hub, event_type, count, seed, people=None):
    """POSTs count events (round-robin over people, when given); returns
    their ids in sending order, and per person."""
    rng = random.Random(seed)
    ids, by_person = [], {}
    for i in range(count):
        nhs = people[i % len(people)] if people else None
        answer = hub.post(event_type, events.make(event_type, rng, nhs=nhs))
        assert answer.status_code == 202, answer.text
        ids.append(answer.json()["event_id"])
        if nhs:
            by_person.setdefault(nhs, []).append(ids[-1])
    return ids, by_person


def delivered_ids(partner, ours):
    return [e["event_id"] for e in partner.delivered_events() if e["event_id"] in ours]


def caught_up(hub, broker, partner_id, topics):
    """Waits until a new partner's group has worked through what earlier
    tests left on the module's broker, so what follows sees only ours."""
    ends = broker.end_offsets(topics)
    wait_until(lambda: broker.committed(hub.group(partner_id), topics) == ends, 60,
               f"{partner_id} to catch up with earlier tests' events")


def receipts(broker, hub):
    return [json.loads(value) for _, value, _ in broker.read_topic(hub.audit_topic)]


def test_partner_down_30_s_then_recovers(make_hub, broker):
    hub = make_hub({"housing": ["admission"]},
                   dispatch_settings={"breaker_failures": 3, "breaker_open_ms": 1000,
                                      "breaker_open_max_ms": 4000})
    partner = hub.partners["housing"]
    partner.behave(status=503)
    rng = random.Random(41)
    people = [events.nhs_number(rng) for _ in range(5)]
    ids, by_person = post_many(hub, "admission", 60, 42, people)

    time.sleep(30)  # the outage itself: nothing to wait for but the clock
    during = partner.count()
    assert delivered_ids(partner, set(ids)) == []
    assert broker.committed(hub.group("housing"), ["admission"])["admission"] == 0, \
        "no offset may move while the partner is down"
    # The circuit opened: the partner was probed, not hammered (60 events
    # with 50 ms backoff would otherwise make hundreds of requests).
    assert during < 60, f"{during} requests during a 30 s outage: the breaker did not hold back"

    partner.behave(status=200)
    wait_until(lambda: set(delivered_ids(partner, set(ids))) == set(ids), 60,
               "every event delivered after recovery")
    for nhs, sent in by_person.items():
        arrived = delivered_ids(partner, set(sent))
        assert arrived == sent, "one person's events arrived out of order"
    assert len(delivered_ids(partner, set(ids))) == len(ids), "no event delivered twice"
    assert broker.read_topic(hub.dead_letter_topic) == []
    wait_until(lambda: {r["event_id"] for r in receipts(broker, hub)} >= set(ids), 30,
               "a receipt for every delivered event")
    for receipt in receipts(broker, hub):
        assert receipt["outcome"] == "delivered" and receipt["partner"] == "housing"


def test_429_retry_after_is_honoured(make_hub, broker):
    hub = make_hub({"housing": ["admission"]})
    partner = hub.partners["housing"]
    caught_up(hub, broker, "housing", ["admission"])
    partner.behave(status=429, headers={"Retry-After": "2"}, times=1)
    ids, _ = post_many(hub, "admission", 1, 43)
    wait_until(lambda: delivered_ids(partner, set(ids)) == ids, 30, "the event delivered")
    tries = [r for r in partner.requests() if r.get("json", {}).get("event_id") == ids[0]]
    assert [r["status"] for r in tries] == [429, 200]
    first, second = (datetime.datetime.fromisoformat(r["received_at"].replace("Z", "+00:00"))
                     for r in tries)
    assert (second - first).total_seconds() >= 2.0, "Retry-After: 2 was not honoured"


def test_permanent_400_is_dead_lettered_and_the_partition_moves_on(make_hub, broker):
    hub = make_hub({"housing": ["admission"]})
    partner = hub.partners["housing"]
    caught_up(hub, broker, "housing", ["admission"])
    partner.behave(status=400, body={"error": "ward code 9990123454 unknown"}, times=1)
    rejected, _ = post_many(hub, "admission", 1, 44)
    wait_until(lambda: len(broker.read_topic(hub.dead_letter_topic)) == 1, 30,
               "the rejected event on the dead-letter topic")
    later, _ = post_many(hub, "admission", 5, 45)
    wait_until(lambda: set(delivered_ids(partner, set(later))) == set(later), 30,
               "the events after it delivered")

    [(key, value, headers)] = broker.read_topic(hub.dead_letter_topic)
    assert headers["placehub.event_id"] == rejected[0]
    assert headers["placehub.partner"] == "housing"
    assert headers["placehub.status"] == "400"
    assert headers["placehub.attempts"] == "1"
    assert headers["placehub.reason"] == "HTTP 400"
    assert headers["placehub.source_topic"] == "admission"
    # The partner's answer is kept, with anything like an NHS number masked.
    assert "##########" in headers["placehub.response_excerpt"]
    assert "9990123454" not in headers["placehub.response_excerpt"]
    assert value[0] == 0, "the dead letter keeps the event's own Confluent-framed bytes"

    ends = broker.end_offsets(["admission"])
    wait_until(lambda: broker.committed(hub.group("housing"), ["admission"]) == ends, 30,
               "the partition's committed offset past the dead letter")
    outcomes = {r["event_id"]: r["outcome"] for r in receipts(broker, hub)}
    assert outcomes[rejected[0]] == "dead_lettered"
    assert all(outcomes.get(i) == "delivered" for i in later)


def test_a_hanging_partner_does_not_slow_the_others(make_hub, broker):
    hub = make_hub({"hanging": ["referral"], "healthy": ["referral"]},
                   partner_options={"hanging": {"timeout_ms": 1000}})
    hanging, healthy = hub.partners["hanging"], hub.partners["healthy"]
    hanging.behave(status=200, delay_ms=30000)
    started = time.monotonic()
    ids, _ = post_many(hub, "referral", 40, 46)
    wait_until(lambda: set(delivered_ids(healthy, set(ids))) == set(ids), 20,
               "the healthy partner to receive everything while the other hangs")
    took = time.monotonic() - started
    assert took < 20
    # The hanging partner's transfers time out (1 s) and are retried; none
    # counted as delivered, its offsets stay put.
    wait_until(lambda: "Timeout was reached" in hub.dispatch.output(), 20,
               "the hanging partner's transfers to time out")

    def retried():
        seen = [(r.get("json") or {}).get("event_id") for r in hanging.requests()]
        return any(seen.count(i) >= 2 for i in ids)
    wait_until(retried, 30, "an event sent to the hanging partner again after its timeout")
    assert broker.committed(hub.group("hanging"), ["referral"])["referral"] == 0


def test_kill_9_mid_stream_loses_nothing(make_hub, broker):
    hub = make_hub({"housing": ["discharge"]})
    partner = hub.partners["housing"]
    # Slow enough (200 events x 200 ms / 16 in flight = 2.5 s) that the
    # kill lands mid-stream.
    partner.behave(status=200, delay_ms=200)
    ids, _ = post_many(hub, "discharge", 200, 47)
    wait_until(lambda: len(delivered_ids(partner, set(ids))) >= 40, 60, "delivery under way")
    hub.dispatch.stop(sig=signal.SIGKILL)
    assert len(set(delivered_ids(partner, set(ids)))) < len(ids), \
        "everything was delivered before the kill: the test proved nothing"
    partner.behave(status=200)
    hub.start_dispatch()
    wait_until(lambda: set(delivered_ids(partner, set(ids))) == set(ids), 60,
               "every acknowledged event delivered after the restart")
    # Duplicates are allowed (delivered before the kill, not yet committed)
    # and recognisable: the same event id with the same body.
    bodies = {}
    for event in partner.delivered_events():
        if event["event_id"] in bodies:
            assert bodies[event["event_id"]] == event, "a duplicate differs from the original"
        bodies[event["event_id"]] = event


def test_two_instances_share_the_work_and_survive_one_killed(make_hub, broker):
    # The whole batch is on the broker before either instance starts, and two
    # requests in flight each against a 100 ms partner make delivery take
    # about 7 s, so the kill always lands mid-stream, however slow the build.
    hub = make_hub({"housing": ["admission", "discharge"]}, start_dispatch=False,
                   dispatch_settings={"max_in_flight": 2})
    partner = hub.partners["housing"]
    partner.behave(status=200, delay_ms=100)
    rng = random.Random(48)
    batch = [("admission" if i % 2 else "discharge") for i in range(300)]

    def post(event_type):
        answer = hub.post(event_type, events.make(event_type, random.Random(rng.random())))
        assert answer.status_code == 202, answer.text
        return answer.json()["event_id"]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(post, batch))
    hub.start_dispatch()
    second = hub.start_another_dispatch("dispatch-2")
    wait_until(lambda: len(delivered_ids(partner, set(ids))) >= 60, 60, "delivery under way")
    second.stop(sig=signal.SIGKILL)
    assert len(set(delivered_ids(partner, set(ids)))) < len(ids), \
        "everything was delivered before the kill: the test proved nothing"
    wait_until(lambda: set(delivered_ids(partner, set(ids))) == set(ids), 90,
               "every event delivered by the surviving instance")


def test_retry_window_ends_in_a_dead_letter(make_hub, broker):
    """An event still failing when the retry window closes goes to the
    dead-letter topic with the last reason, and the partition moves on."""
    hub = make_hub({"housing": ["admission"]},
                   dispatch_settings={"retry_window_ms": 2000, "breaker_failures": 1000})
    partner = hub.partners["housing"]
    caught_up(hub, broker, "housing", ["admission"])
    partner.behave(status=503)
    ids, _ = post_many(hub, "admission", 1, 49)
    wait_until(lambda: len(broker.read_topic(hub.dead_letter_topic)) == 1, 30,
               "the event dead-lettered when its retry window closed")
    [(_, _, headers)] = broker.read_topic(hub.dead_letter_topic)
    assert headers["placehub.event_id"] == ids[0]
    assert "retry window" in headers["placehub.reason"]
    assert "HTTP 503" in headers["placehub.reason"]
    assert int(headers["placehub.attempts"]) >= 2


def test_redirects_are_not_followed_and_answers_are_capped(make_hub, broker):
    """A 3xx is not followed (the event could end up where no agreement
    covers it): it is refused like any other non-2xx. A huge answer costs at
    most max_response_bytes and does not stop the event being delivered."""
    hub = make_hub({"housing": ["admission"]},
                   partner_options={"housing": {"max_response_bytes": 1024}})
    partner = hub.partners["housing"]
    caught_up(hub, broker, "housing", ["admission"])
    partner.behave(status=302, headers={"Location": "http://127.0.0.1:9/elsewhere"}, times=1)
    redirected, _ = post_many(hub, "admission", 1, 50)
    wait_until(lambda: len(broker.read_topic(hub.dead_letter_topic)) == 1, 30,
               "the redirected event dead-lettered")
    [(_, _, headers)] = broker.read_topic(hub.dead_letter_topic)
    assert headers["placehub.event_id"] == redirected[0]
    assert headers["placehub.status"] == "302"
    assert [r for r in partner.requests() if r["path"] == "/elsewhere"] == []

    partner.behave(status=200, body="x" * 2_000_000, times=1)
    big, _ = post_many(hub, "admission", 1, 51)
    wait_until(lambda: big[0] in {r["event_id"] for r in receipts(broker, hub)}, 30,
               "a receipt for the event answered with 2 MB")
    outcome = {r["event_id"]: r for r in receipts(broker, hub)}[big[0]]
    assert outcome["outcome"] == "delivered" and outcome["status"] == 200



def _received(record):
    return datetime.datetime.fromisoformat(record["received_at"].replace("Z", "+00:00"))


def _authorization(record):
    return {k.lower(): v for k, v in record["headers"].items()}.get("authorization")


def _request_of(partner, event_id):
    [record] = [r for r in partner.requests() if r.get("json", {}).get("event_id") == event_id]
    return record


@pytest.fixture
def token_endpoint():
    """A simulator standing in for an OAuth2 token endpoint, its answers
    scripted per request through /_sim/behaviour."""
    workdir = tempfile.mkdtemp(prefix="placehub-token-")
    endpoint = Partner("token-endpoint", workdir)
    wait_until(endpoint.ready, 20, "the token endpoint")
    yield endpoint
    assert endpoint.process.stop() == 0
    shutil.rmtree(workdir, ignore_errors=True)


def test_a_slow_token_refresh_does_not_hold_deliveries_back(make_hub, broker, token_endpoint):
    """OAuth2 tokens are refreshed ahead of expiry on a thread of their own:
    while a refresh hangs for 3 s, an event goes out at once with the token
    that still lives. (Fetched on the delivery path, as before, it would have
    waited for the slow answer and gone out with the new token.)"""
    # The first token lives 8 s, so its refresh starts at about 4 s (half
    # its life) and is answered 3 s later, before the first one expires.
    requests.put(token_endpoint.url + "/_sim/behaviour", timeout=10, json=[
        {"status": 200, "times": 1,
         "body": {"access_token": "tok-one", "token_type": "Bearer", "expires_in": 8}},
        {"status": 200, "times": 1, "delay_ms": 3000,
         "body": {"access_token": "tok-two", "token_type": "Bearer", "expires_in": 600}},
    ]).raise_for_status()
    hub = make_hub({"housing": ["admission"]},
                   partner_options={"housing": {
                       "auth": "oauth2",
                       "auth_oauth2_token_url": f"{token_endpoint.url}/oauth/token",
                       "auth_oauth2_client_id": "placehub",
                       "auth_oauth2_client_secret": "env:TEST_OAUTH2_SECRET"}},
                   env={"TEST_OAUTH2_SECRET": "s3cret"})
    partner = hub.partners["housing"]
    caught_up(hub, broker, "housing", ["admission"])
    first, _ = post_many(hub, "admission", 1, 51)
    wait_until(lambda: delivered_ids(partner, set(first)) == first, 30, "the first event")
    assert _authorization(_request_of(partner, first[0])) == "Bearer tok-one"

    # The refresh is under way once the endpoint has seen a second request.
    wait_until(lambda: token_endpoint.count() >= 2, 30, "the background refresh to start")
    refresh_began = _received(token_endpoint.requests()[1])
    during, _ = post_many(hub, "admission", 1, 52)
    wait_until(lambda: delivered_ids(partner, set(during)) == during, 30,
               "the event sent during the refresh")
    record = _request_of(partner, during[0])
    assert _authorization(record) == "Bearer tok-one", \
        "the event waited for the refresh instead of going with the living token"
    assert (_received(record) - refresh_began).total_seconds() < 3.0, \
        "the event was held until the slow token answer"

    # Once the refresh is answered, the new token serves.
    seeds = iter(range(53, 200))

    def sent_with_the_new_token():
        ids, _ = post_many(hub, "admission", 1, next(seeds))
        wait_until(lambda: delivered_ids(partner, set(ids)) == ids, 30, "an event after it")
        return _authorization(_request_of(partner, ids[0])) == "Bearer tok-two"

    wait_until(sent_with_the_new_token, 30, "an event carrying the refreshed token",
               interval=0.5)
    assert not [r for r in partner.requests() if r.get("status") == 401]
