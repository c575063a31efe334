"""The http connector end to end: three partner API styles set up in the
configuration alone (no C), each through ingest, Kafka and dispatch to a
placehub-partner-sim, checking what the partner received (method, path,
headers, body) and what became of each event (delivered, retried, dead
letter) as the answer map says.

1. PUT of the event as it is to a URL template on the person's pseudonym,
   a bearer token read from a file, 409 meaning "already have it".
2. A form-encoded POST, HMAC-signed, checked here with Python's hmac.
3. A nested JSON body template, OAuth2 client credentials against the
   simulator's own token endpoint (--oauth-client, --require-auth).

And the demo configuration's three partners, as configured there.
"""
import hashlib
import hmac
import json
import os
import random
import re
from urllib.parse import parse_qs, urlsplit

import yaml

import events
from harness import DATA, REPO, wait_until

TOKEN = "tok-" + "b" * 40
SIGNING_KEY = "leisure-signing-key-0123456789"
PSEUDONYM_KEY = "homes-pseudonym-key-0123456789abcdef"
CLIENT_ID, CLIENT_SECRET = "placehub-care", "care-secret-42"


def caught_up(hub, broker, partner_id, topics):
    ends = broker.end_offsets(topics)
    wait_until(lambda: broker.committed(hub.group(partner_id), topics) == ends, 60,
               f"{partner_id} to catch up with earlier tests' events")


def post(hub, event_type, event):
    answer = hub.post(event_type, event)
    assert answer.status_code == 202, answer.text
    return answer.json()["event_id"]


def records_of(partner, event_id):
    return [r for r in partner.requests()
            if {k.lower(): v for k, v in r["headers"].items()}.get("idempotency-key") == event_id]


def outcomes(broker, hub):
    """Each event's outcome, from the delivery records of the audit topic
    (it holds suppression records too, which have none)."""
    records = [json.loads(v) for _, v, _ in broker.read_topic(hub.audit_topic)]
    return {r["event_id"]: r["outcome"] for r in records if "outcome" in r}


def headers_of(record):
    return {k.lower(): v for k, v in record["headers"].items()}


def admitted(rng, **fields):
    return events.plain_admission(rng, events.nhs_number(rng), **fields)


def test_put_json_on_a_url_template_with_a_bearer_token_and_an_answer_map(make_hub, broker,
                                                                          tmp_path):
    token_file = tmp_path / "homes-token"
    token_file.write_text(TOKEN + "\n")
    agreement = {"id": "homes-stays", "purpose": "tests", "legal_basis": "test data only",
                 "event_types": ["admission"], "fields": ["ward", "admitted_at", "person.address"],
                 "direct_care": True, "restricted_records": True,
                 "pseudonym_key": "env:HOMES_PSEUDONYM_KEY"}
    hub = make_hub({"homes": ["admission"]}, env={"HOMES_PSEUDONYM_KEY": PSEUDONYM_KEY},
                   partner_options={"homes": {
                       "connector": "http", "agreements": [agreement],
                       "url": lambda p: p.url + "/people/{pseudonym}/stays/{event_id}",
                       "method": "PUT", "auth": "bearer", "auth_token": f"file:{token_file}",
                       "answers": {"409": "delivered", "422": "dead_letter", "423": "retry"}}})
    partner = hub.partners["homes"]
    caught_up(hub, broker, "homes", ["admission"])
    rng = random.Random(2005)

    # A 409: the partner has it already (a replay): delivered, not retried.
    partner.behave(status=409, body={"error": "duplicate"}, times=1)
    nhs = events.nhs_number(rng)
    duplicate = post(hub, "admission", events.plain_admission(rng, nhs, ward="Ward 7"))
    wait_until(lambda: outcomes(broker, hub).get(duplicate) == "delivered", 60,
               "the 409 judged delivered")
    [record] = records_of(partner, duplicate)
    assert record["status"] == 409
    assert record["method"] == "PUT"
    pseudonym = record["json"]["person"]["pseudonym"]
    assert re.fullmatch(r"[0-9a-f]{64}", pseudonym)
    assert record["path"] == f"/people/{pseudonym}/stays/{duplicate}"
    headers = headers_of(record)
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert headers["content-type"] == "application/json"
    # The body is the event as the agreement cut it: no NHS number, no notes.
    assert record["json"]["event_id"] == duplicate
    assert record["json"]["ward"] == "Ward 7"
    assert "nhs_number" not in record["json"]["person"]
    assert "notes" not in record["json"] and nhs not in record["body"]

    # A 422: refused for good, to the dead-letter topic with the map's reason.
    partner.behave(status=422, times=1)
    refused = post(hub, "admission", admitted(rng))
    wait_until(lambda: len(broker.read_topic(hub.dead_letter_topic)) == 1, 60,
               "the 422 on the dead-letter topic")
    [(_, _, dead)] = broker.read_topic(hub.dead_letter_topic)
    assert dead["placehub.event_id"] == refused
    assert dead["placehub.reason"] == "HTTP 422 (answers: dead_letter)"
    assert dead["placehub.attempts"] == "1"

    # A 423 (locked): retried, then delivered on the 200 after it.
    partner.behave(status=423, times=1)
    locked = post(hub, "admission", admitted(rng))
    wait_until(lambda: outcomes(broker, hub).get(locked) == "delivered", 60,
               "the 423 retried and then delivered")
    assert [r["status"] for r in records_of(partner, locked)] == [423, 200]
    assert len(broker.read_topic(hub.dead_letter_topic)) == 1


def test_form_post_signed_with_hmac(make_hub, broker):
    hub = make_hub({"leisure": ["referral"]}, env={"LEISURE_SIGNING_KEY": SIGNING_KEY},
                   partner_options={"leisure": {
                       "connector": "http",
                       "url": lambda p: p.url + "/api/referrals?source={source_ods_code}",
                       "body": "form",
                       "body_template": {"ref": "{referral_id}", "urgency": "{urgency}",
                                         "service": "{receiving_service.name}",
                                         "who": "{person.given_name} {person.family_name}",
                                         "reason": "{reason}", "channel": "placehub"},
                       "signing_key": "env:LEISURE_SIGNING_KEY",
                       "signing_header": "X-Leisure-Signature"}})
    partner = hub.partners["leisure"]
    caught_up(hub, broker, "leisure", ["referral"])
    rng = random.Random(2006)
    event = events.referral(rng)
    event.update({"reason": None, "urgency": "URGENT", "source_ods_code": "P99001",
                  "sharing": {"objected_to_non_care_sharing": False, "restricted_record": False}})
    event["person"]["given_name"] = "Ada & Co"
    event_id = post(hub, "referral", event)
    wait_until(lambda: outcomes(broker, hub).get(event_id) == "delivered", 60, "the referral")
    [record] = records_of(partner, event_id)
    assert record["method"] == "POST"
    assert record["path"] == "/api/referrals" and record["query"] == "source=P99001"
    headers = headers_of(record)
    assert headers["content-type"] == "application/x-www-form-urlencoded"
    form = parse_qs(record["body"], keep_blank_values=True, strict_parsing=True)
    # reason is null in the event: left out, not sent empty.
    assert form == {"ref": [event["referral_id"]], "urgency": ["URGENT"],
                    "service": [event["receiving_service"]["name"]],
                    "who": [f"Ada & Co {event['person']['family_name']}"],
                    "channel": ["placehub"]}
    # t=<unix seconds>,v1=<hex HMAC-SHA256(key, "<t>.<body>")>
    match = re.fullmatch(r"t=(\d+),v1=([0-9a-f]{64})", headers["x-leisure-signature"])
    assert match, headers["x-leisure-signature"]
    expected = hmac.new(SIGNING_KEY.encode(), f"{match[1]}.{record['body']}".encode(),
                        hashlib.sha256).hexdigest()
    assert hmac.compare_digest(match[2], expected)


def test_nested_json_template_with_oauth2_client_credentials(make_hub, broker):
    hub = make_hub({"care": ["discharge"]}, env={"CARE_CLIENT_SECRET": CLIENT_SECRET},
                   partner_args={"care": ["--oauth-client", f"{CLIENT_ID}:{CLIENT_SECRET}",
                                          "--require-auth"]},
                   partner_options={"care": {
                       "connector": "http",
                       "url": lambda p: p.url + "/api/v2/discharges/{event_id}",
                       "method": "PATCH",
                       "auth": "oauth2",
                       "auth_oauth2_token_url": lambda p: p.url + "/_sim/oauth/token",
                       "auth_oauth2_client_id": CLIENT_ID,
                       "auth_oauth2_client_secret": "env:CARE_CLIENT_SECRET",
                       "headers": {"X-Correlation": "{correlation_id}", "Accept": "application/json"},
                       "body_template": {
                           "discharge": {"id": "{event_id}", "kind": "{event_type}",
                                         "expected": "{expected_discharge_date}",
                                         "home": {"alone": "{lives_alone}",
                                                  "needs": "{care_needs}",
                                                  "postcode": "{person.address.postcode}"},
                                         "unknown_yet": "{discharged_at}"},
                           "schema": 3, "label": "{event_type} for {source_ods_code}"}}})
    partner = hub.partners["care"]
    caught_up(hub, broker, "care", ["discharge"])
    rng = random.Random(2007)
    event = events.discharge(rng)
    event.update({"event_type": "DISCHARGE_PENDING", "expected_discharge_date": "2026-12-24",
                  "lives_alone": True, "care_needs": ["EQUIPMENT", "TRANSPORT_HOME"],
                  "discharged_at": None, "correlation_id": "6f1c0d4e-1111-4222-8333-944455556666",
                  "source_ods_code": "RXX",
                  "sharing": {"objected_to_non_care_sharing": False, "restricted_record": False}})
    event["person"]["address"] = {"lines": ["1 Mill Lane"], "postcode": "SK4 9XX"}
    event_id = post(hub, "discharge", event)
    wait_until(lambda: outcomes(broker, hub).get(event_id) == "delivered", 60, "the discharge")
    [record] = records_of(partner, event_id)
    assert record["status"] == 200  # --require-auth: the token was one the partner issued
    assert record["method"] == "PATCH"
    assert record["path"] == f"/api/v2/discharges/{event_id}"
    headers = headers_of(record)
    assert headers["authorization"].startswith("Bearer ")
    assert headers["x-correlation"] == "6f1c0d4e-1111-4222-8333-944455556666"
    assert headers["accept"] == "application/json"
    assert record["json"] == {
        "discharge": {"id": event_id, "kind": "DISCHARGE_PENDING", "expected": "2026-12-24",
                      "home": {"alone": True, "needs": ["EQUIPMENT", "TRANSPORT_HOME"],
                               "postcode": "SK4 9XX"},
                      "unknown_yet": None},
        "schema": 3, "label": "DISCHARGE_PENDING for RXX"}


def test_the_demo_partners_configured_with_no_c(make_hub, broker):
    """config/placehub.yaml's three receiving partners, options and
    agreements as written there (only their simulators' ports differ, and
    the pseudonym keys come from the environment): each gets its sample
    event in its own shape."""
    with open(os.path.join(REPO, "config", "placehub.yaml")) as f:
        demo = {p["id"]: p for p in yaml.safe_load(f)["partners"] if p.get("connector") == "http"}
    assert set(demo) == {"stockport-homes", "life-leisure", "stockport-works"}
    env, partner_options = {}, {}
    for pid, partner in demo.items():
        options = dict(partner["options"])
        path = urlsplit(options["url"])
        options["url"] = (lambda tail: lambda sim: sim.url + tail)(
            path.path + ("?" + path.query if path.query else ""))
        agreements = []
        for agreement in partner["agreements"]:
            agreement = dict(agreement)
            if "pseudonym_key" in agreement:
                name = agreement["pseudonym_key"].rsplit("/", 1)[-1]
                env[f"DEMO_KEY_{name}"] = hashlib.sha256(name.encode()).hexdigest()
                agreement["pseudonym_key"] = f"env:DEMO_KEY_{name}"
            agreements.append(agreement)
        partner_options[pid] = {"connector": "http", "agreements": agreements, **options}
    hub = make_hub({pid: p["topics"] for pid, p in demo.items()}, env=env,
                   partner_options=partner_options)
    for pid, partner in demo.items():
        caught_up(hub, broker, pid, partner["topics"])
    sent = {}
    for topic in ("admission", "discharge", "referral", "employment-support"):
        with open(os.path.join(DATA, f"{topic}.json")) as f:
            event = json.load(f)
        del event["event_id"]
        sent[topic] = post(hub, topic, event)
    wait_until(lambda: all(outcomes(broker, hub).get(i) == "delivered" for i in sent.values()),
               60, "every sample delivered")

    [stay] = records_of(hub.partners["stockport-homes"], sent["discharge"])
    assert stay["method"] == "PUT"
    pseudonym = stay["json"]["person"]["pseudonym"]
    assert stay["path"] == f"/tenants/{pseudonym}/hospital-stays/{sent['discharge']}"
    assert headers_of(stay)["x-placehub-event-type"] == "discharge"
    [referral] = records_of(hub.partners["life-leisure"], sent["referral"])
    assert referral["method"] == "POST" and referral["path"] == "/placehub/referrals"
    assert referral["json"]["event_id"] == sent["referral"]
    [progress] = records_of(hub.partners["stockport-works"], sent["employment-support"])
    with open(os.path.join(DATA, "employment-support.json")) as f:
        sample = json.load(f)
    assert progress["path"] == f"/api/participants/{sample['referral_id']}/progress"
    assert progress["json"] == {
        "event_id": sent["employment-support"], "event_type": sample["event_type"],
        "participant": {"given_name": sample["person"]["given_name"],
                        "family_name": sample["person"]["family_name"]},
        "programme": {"code": sample["programme"], "name": sample["programme_name"]},
        "stage": sample["stage"], "job_start_date": sample["job_start_date"]}
