"""Information governance, end to end on a real broker (docs/governance.md).

Each partner receives an event only under one of its data-sharing agreements
and only the fields that agreement names: what a simulated partner received
is compared with an independent Python rendering of its agreement, field by
field, never a field more. Events no agreement lets through (no agreement
for the type, an objection, a restricted record, a person outside the area)
are not sent, and each leaves a suppression record on the audit topic before
the partner's offset moves on. Pseudonyms are stable per person and differ
per partner. Every disclosure has its record: agreement, fields, person
reference. Finally the whole flow runs with unmistakable invented personal
values and none of them may appear in any program's log.
"""
import copy
import hashlib
import hmac
import json
import os
import random
import subprocess
import time
import uuid

import hl7.client
import pytest

import events
from harness import BIN, REPO, free_port, wait_until

ENVELOPE = {"event_id", "event_type", "schema_version", "occurred_at", "recorded_at",
            "source_ods_code", "correlation_id", "cancels_event_id", "supersedes_event_id",
            "sharing"}
DEVELOPMENT_PERSON_KEY = b"placehub-development-person-key-not-for-real-data"  # lib/schema/event.h
HOUSING_KEY = "housing-pseudonym-key-" + "7" * 24
LEISURE_KEY = "leisure-pseudonym-key-" + "3" * 24
PERSON_KEY = "the-hub-person-key-for-these-tests-0042"
MISSING = object()


# --- an independent rendering of an agreement -------------------------------------------

def _allowed(path, fields):
    return any(path == f or path.startswith(f + ".") for f in fields)


def _cut(value, path, fields):
    if _allowed(path, fields):
        return copy.deepcopy(value)
    if not any(f.startswith(path + ".") for f in fields):
        return MISSING
    if value is None:
        return None
    if isinstance(value, dict):
        out = {}
        for key, child in value.items():
            kept = _cut(child, f"{path}.{key}", fields)
            if kept is not MISSING:
                out[key] = kept
        return out
    if isinstance(value, list):
        return [_cut(item, path, fields) for item in value if isinstance(item, dict)]
    return MISSING


def minimised(event, fields, pseudonym_key=None):
    """What a partner may see of event under an agreement listing fields."""
    out = {}
    for key, value in event.items():
        kept = copy.deepcopy(value) if key in ENVELOPE else _cut(value, key, fields)
        if kept is not MISSING:
            out[key] = kept
    nhs = (event.get("person") or {}).get("nhs_number")
    if pseudonym_key and nhs:
        out.setdefault("person", {})["pseudonym"] = pseudonym(pseudonym_key, nhs)
    return out


def pseudonym(key, nhs_number):
    return hmac.new(key.encode(), nhs_number.encode(), hashlib.sha256).hexdigest()


def person_key(key, nhs_number):
    return hmac.new(key, f"nhs:{nhs_number}".encode(), hashlib.sha256).hexdigest()[:32]


def disclosed_paths(value, path=""):
    """Field paths with a value (not null, not empty): agreement_fields."""
    found = set()
    if isinstance(value, dict):
        for key, child in value.items():
            found |= disclosed_paths(child, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, (dict, list)):
                found |= disclosed_paths(item, path)
            elif item is not None and path:
                found.add(path)
    elif value is not None and path:
        found.add(path)
    return found


def agreement(agreement_id, event_types, fields, **rules):
    return {"id": agreement_id, "purpose": f"test purpose of {agreement_id}",
            "legal_basis": "test data only", "event_types": event_types, "fields": fields,
            **rules}


def audit(hub, kind=None):
    records = [json.loads(value) for _, value, _ in hub.broker.read_topic(hub.audit_topic)]
    return [r for r in records if kind is None or r["record"] == kind]


def received_by_id(partner, ids):
    return {e["event_id"]: e for e in partner.delivered_events() if e["event_id"] in ids}


def quiet(event):
    """No objection, no restriction: the event is judged by its fields alone."""
    event["sharing"] = {"objected_to_non_care_sharing": False, "restricted_record": False}
    return event


def post_ok(hub, event_type, event):
    answer = hub.post(event_type, event)
    assert answer.status_code == 202, answer.text
    return answer.json()["event_id"]


# --- minimisation -------------------------------------------------------------------------

HOUSING_FIELDS = ["priority", "person.given_name", "person.family_name",
                  "person.address.postcode", "encounter_id", "expected_discharge_date",
                  "care_needs", "discharge_destination"]
GP_FIELDS = ["person", "notes", "ward", "admitting_specialty", "encounter_id"]


def test_each_partner_receives_exactly_what_its_agreement_allows(make_hub):
    """Two partners on the same topics with different agreements: each gets
    exactly its agreement's rendering of every event, never a field more,
    and a disclosure record per event that names those fields."""
    hub = make_hub(
        {"housing": ["admission", "discharge"], "gp": ["admission", "discharge"]},
        partner_options={
            "housing": {"agreements": [agreement(
                "housing-stays", ["admission", "discharge"], HOUSING_FIELDS,
                pseudonym_key="env:TEST_HOUSING_KEY")]},
            "gp": {"agreements": [agreement(
                "gp-direct-care", ["admission", "discharge"], GP_FIELDS, direct_care=True,
                restricted_records=True)]}},
        env={"TEST_HOUSING_KEY": HOUSING_KEY})
    rng = random.Random(404)
    sent = {}
    for i in range(40):
        event_type = "admission" if i % 2 == 0 else "discharge"
        event = quiet(events.make(event_type, rng, with_hub_fields=True))
        sent[post_ok(hub, event_type, event)] = event
    for pid in ("housing", "gp"):
        wait_until(lambda: len(received_by_id(hub.partners[pid], sent)) == len(sent), 60,
                   f"{pid} to receive all {len(sent)} events")

    for pid, fields, key in (("housing", HOUSING_FIELDS, HOUSING_KEY), ("gp", GP_FIELDS, None)):
        got = received_by_id(hub.partners[pid], sent)
        for event_id, event in sent.items():
            expected = minimised(event, fields, key)
            assert got[event_id] == expected, (
                f"{pid} {event_id}: extra {set(got[event_id]) - set(expected)}, "
                f"missing {set(expected) - set(got[event_id])}")
            for path in disclosed_paths(got[event_id]):
                top = path.split(".")[0]
                assert (top in ENVELOPE or _allowed(path, fields)
                        or (key and path == "person.pseudonym")), f"{pid} got {path}"
    housing = received_by_id(hub.partners["housing"], sent)
    assert all("nhs_number" not in e.get("person", {}) for e in housing.values())
    assert all("notes" not in e and "ward" not in e for e in housing.values())

    # One disclosure record per event and partner, naming what went out.
    wait_until(lambda: len([r for r in audit(hub, "delivery") if r["event_id"] in sent])
               == 2 * len(sent), 30, "the disclosure records")
    for record in audit(hub, "delivery"):
        if record["event_id"] not in sent:
            continue
        got = received_by_id(hub.partners[record["partner"]], sent)[record["event_id"]]
        assert record["outcome"] == "delivered"
        assert record["fields"] == sorted(disclosed_paths(got))
        assert record["agreement"] == ("housing-stays" if record["partner"] == "housing"
                                       else "gp-direct-care")
        assert record["pseudonymised"] is (record["partner"] == "housing")


# --- default deny, conditions, objection ----------------------------------------------

def test_default_deny_no_agreement_for_an_event_type(make_hub, broker):
    """Subscribed to referral with no agreement covering it: nothing of it
    is sent, each referral is recorded as suppressed, and the offsets still
    reach the end of the topic."""
    hub = make_hub({"housing": ["admission", "referral"]}, partner_options={
        "housing": {"agreements": [agreement("housing-admissions", ["admission"], [])]}})
    rng = random.Random(7)
    referrals = {post_ok(hub, "referral", quiet(events.referral(rng))) for _ in range(5)}
    admission = post_ok(hub, "admission", quiet(events.admission(rng)))
    partner = hub.partners["housing"]
    wait_until(lambda: admission in received_by_id(partner, {admission}), 60,
               "the admission delivered")
    wait_until(lambda: referrals <= {r["event_id"] for r in audit(hub, "suppression")}, 30,
               "a suppression record per referral")
    assert not received_by_id(partner, referrals), "a referral went out without an agreement"
    assert all(r["json"].get("event_type", "").startswith("ADMI")
               or r["json"]["event_id"] not in referrals for r in partner.requests())
    for record in audit(hub, "suppression"):
        if record["event_id"] in referrals:
            assert record["reason"] == "no_agreement"
            assert record["agreement"] is None
            assert record["event_type"] == "referral"
            assert record["detail"] == "no agreement of the partner covers referral events"
    ends = broker.end_offsets(["referral"])
    wait_until(lambda: broker.committed(hub.group("housing"), ["referral"])["referral"]
               == ends["referral"], 30, "referral offsets committed after the records")
    assert "no agreement partner=housing topic=referral" in hub.dispatch.output()


def test_area_condition(make_hub):
    """Only people living in the agreement's postcode districts."""
    hub = make_hub({"housing": ["admission"]}, partner_options={"housing": {"agreements": [
        agreement("housing-sk4", ["admission"], ["person.address.postcode"],
                  conditions={"postcode_districts": ["SK4", "SK5"]})]}})
    rng = random.Random(99)

    def admission(postcode):
        event = quiet(events.admission(rng))
        event["person"]["address"] = ({"lines": ["1 Test Row"], "postcode": postcode}
                                      if postcode else None)
        return post_ok(hub, "admission", event)

    inside = {admission("SK4 2AA"), admission("sk5 7zz"), admission("SK4 9XX")}
    outside = {admission("SK14 1AA"): "postcode district not among the agreement's "
                                      "postcode_districts",
               admission("M20 2AB"): "postcode district not among the agreement's "
                                     "postcode_districts",
               admission(None): "postcode not known"}
    partner = hub.partners["housing"]
    wait_until(lambda: set(received_by_id(partner, inside)) == inside, 60, "the 3 in the area")
    wait_until(lambda: set(outside) <= {r["event_id"] for r in audit(hub, "suppression")}, 30,
               "a suppression record per person outside")
    assert not received_by_id(partner, set(outside))
    for record in audit(hub, "suppression"):
        if record["event_id"] in outside:
            assert record["reason"] == "condition"
            assert record["agreement"] == "housing-sk4"
            assert record["detail"] == outside[record["event_id"]]


def test_objection_and_restriction_are_suppressed_with_audit_records(make_hub, broker):
    """A person who objected to sharing beyond their care: the direct-care
    partner gets the event, the housing provider does not, and its
    suppression is on the audit topic before its offset moves on. The same
    for a restricted record, and for a cancellation of a suppressed event."""
    hub = make_hub(
        {"care": ["admission"], "housing": ["admission"]},
        partner_options={
            "care": {"agreements": [agreement("care-all", ["admission"], ["person"],
                                              direct_care=True, restricted_records=True)]},
            "housing": {"agreements": [agreement("housing-stays", ["admission"],
                                                 ["person.given_name"])]}},
        governance={"person_key": "env:TEST_PERSON_KEY"}, env={"TEST_PERSON_KEY": PERSON_KEY})
    rng = random.Random(31)
    objected = quiet(events.admission(rng))
    objected["sharing"]["objected_to_non_care_sharing"] = True
    objected["event_type"] = "ADMITTED"
    objected_id = post_ok(hub, "admission", objected)
    restricted = quiet(events.admission(rng))
    restricted["sharing"]["restricted_record"] = True
    restricted_id = post_ok(hub, "admission", restricted)
    cancellation = copy.deepcopy(objected)
    cancellation.update(event_type="ADMISSION_CANCELLED", cancels_event_id=objected_id)
    cancellation.pop("event_id", None)
    cancellation_id = post_ok(hub, "admission", cancellation)
    plain_id = post_ok(hub, "admission", quiet(events.admission(rng)))
    ours = {objected_id, restricted_id, cancellation_id, plain_id}

    care, housing = hub.partners["care"], hub.partners["housing"]
    wait_until(lambda: set(received_by_id(care, ours)) == ours, 60, "care to receive all four")
    wait_until(lambda: plain_id in received_by_id(housing, ours), 60, "housing the plain one")
    wait_until(lambda: {objected_id, restricted_id, cancellation_id}
               <= {r["event_id"] for r in audit(hub, "suppression")}, 30,
               "the three suppression records")
    assert set(received_by_id(housing, ours)) == {plain_id}

    records = {r["event_id"]: r for r in audit(hub, "suppression") if r["event_id"] in ours}
    assert set(records) == {objected_id, restricted_id, cancellation_id}
    assert records[objected_id]["reason"] == "objection"
    assert records[restricted_id]["reason"] == "restricted"
    # housing never had the admission, so it gets no cancellation of it
    # (care, which had it, got it above): corrections follow disclosures.
    assert records[cancellation_id]["reason"] == "not_disclosed"
    assert records[cancellation_id]["cancels_event_id"] == objected_id
    assert "cancels_event_id" not in records[objected_id]
    sources = {}
    for event_id, record in records.items():
        assert record["partner"] == "housing"
        # not_disclosed: no agreement was applied, the ledger decided.
        assert record["agreement"] == (None if event_id == cancellation_id else "housing-stays")
        assert record["event_type"] == "admission"
        assert set(record) >= {"record", "partner", "event_id", "event_type", "source",
                               "person_ref", "agreement", "reason", "detail", "at"}
        assert record["source"]["topic"] == "admission"
        assert record["at"].endswith("Z")
        sources[event_id] = record["source"]
        for value in (objected, restricted):
            for personal in (value["person"]["family_name"], value["person"]["nhs_number"]):
                assert personal not in json.dumps(record)
    # person_ref is the keyed hash of the NHS number under the hub's key.
    nhs = objected["person"]["nhs_number"]
    assert records[objected_id]["person_ref"] == person_key(PERSON_KEY.encode(), nhs)
    assert records[cancellation_id]["person_ref"] == records[objected_id]["person_ref"]
    assert records[restricted_id]["person_ref"] == person_key(
        PERSON_KEY.encode(), restricted["person"]["nhs_number"])
    # The source points at the event itself.
    by_position = {}
    from confluent_kafka import Consumer, TopicPartition
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": uuid.uuid4().hex,
                         "enable.auto.commit": False})
    try:
        for event_id, source in sources.items():
            consumer.assign([TopicPartition("admission", source["partition"], source["offset"])])
            message = None
            deadline = time.monotonic() + 20
            while message is None or message.error() is not None:
                assert time.monotonic() < deadline, "the source message could not be read"
                message = consumer.poll(1)
            headers = dict(message.headers() or [])
            by_position[event_id] = headers.get("event_id", b"").decode()
            assert message.key().decode() == records[event_id]["person_ref"]
    finally:
        consumer.close()
    assert by_position == {event_id: event_id for event_id in sources}
    # Offsets moved on over the suppressed events.
    ends = broker.end_offsets(["admission"])
    wait_until(lambda: broker.committed(hub.group("housing"), ["admission"])["admission"]
               == ends["admission"], 30, "housing's offsets at the end of admission")


# --- pseudonyms ----------------------------------------------------------------------------

def test_pseudonyms_are_stable_per_person_and_differ_per_partner(make_hub, tmp_path):
    """One person's pseudonym is the same in every event and under every
    agreement of a partner, and another at another partner; it is the HMAC
    any tool computes; the NHS number itself never goes out."""
    key_file = tmp_path / "leisure-key"
    key_file.write_text(LEISURE_KEY + "\n")
    key_file.chmod(0o600)
    both = ["person.given_name"]
    hub = make_hub(
        {"housing": ["admission", "discharge"], "leisure": ["admission"]},
        partner_options={
            "housing": {"agreements": [
                agreement("housing-admissions", ["admission"], both,
                          pseudonym_key="env:TEST_HOUSING_KEY"),
                agreement("housing-discharges", ["discharge"], [],
                          pseudonym_key="env:TEST_HOUSING_KEY")]},
            "leisure": {"agreements": [agreement("leisure-admissions", ["admission"], both,
                                                 pseudonym_key=f"file:{key_file}")]}},
        env={"TEST_HOUSING_KEY": HOUSING_KEY})
    rng = random.Random(5150)
    nhs = events.nhs_number(rng)
    other = events.nhs_number(rng)
    mine = [post_ok(hub, "admission", quiet(events.admission(rng, nhs=nhs))) for _ in range(3)]
    mine.append(post_ok(hub, "discharge", quiet(events.discharge(rng, nhs=nhs))))
    theirs = post_ok(hub, "admission", quiet(events.admission(rng, nhs=other)))
    housing, leisure = hub.partners["housing"], hub.partners["leisure"]
    wanted = set(mine) | {theirs}
    wait_until(lambda: set(received_by_id(housing, wanted)) == wanted, 60, "housing gets 5")
    wanted_leisure = set(mine[:3]) | {theirs}
    wait_until(lambda: set(received_by_id(leisure, wanted_leisure)) == wanted_leisure, 60,
               "leisure gets the 4 admissions")
    at_housing = {received_by_id(housing, set(mine))[i]["person"]["pseudonym"] for i in mine}
    at_leisure = {received_by_id(leisure, set(mine[:3]))[i]["person"]["pseudonym"]
                  for i in mine[:3]}
    assert at_housing == {pseudonym(HOUSING_KEY, nhs)}, "one pseudonym per person, all agreements"
    assert at_leisure == {pseudonym(LEISURE_KEY, nhs)}
    assert at_housing != at_leisure, "two partners cannot link their records"
    assert received_by_id(housing, {theirs})[theirs]["person"]["pseudonym"] == pseudonym(
        HOUSING_KEY, other)
    for partner in (housing, leisure):
        for request in partner.requests():
            assert nhs not in request["body"] and other not in request["body"]


def test_two_partners_may_not_share_a_pseudonym_key(make_hub):
    hub = make_hub(
        {"housing": ["admission"], "leisure": ["admission"]},
        partner_options={pid: {"agreements": [agreement(f"{pid}-a", ["admission"], [],
                                                        pseudonym_key=f"env:KEY_{pid.upper()}")]}
                         for pid in ("housing", "leisure")},
        env={"KEY_HOUSING": HOUSING_KEY, "KEY_LEISURE": HOUSING_KEY}, start_dispatch=False)
    dispatch = hub.start_dispatch()
    wait_until(lambda: not dispatch.alive(), 60, "dispatch to refuse the shared key")
    # Its refusal is the point: not a failure for the hub's teardown.
    hub.processes.remove(dispatch)
    assert dispatch.stop() == 1
    assert "partners housing and leisure have the same pseudonym key" in dispatch.output()
    assert HOUSING_KEY not in dispatch.output()


def test_field_paths_are_checked_against_the_schemas(make_hub):
    hub = make_hub({"housing": ["admission"]}, start_dispatch=False, partner_options={
        "housing": {"agreements": [agreement("housing-a", ["admission"],
                                             ["ward", "person.adress.postcode"])]}})
    result = subprocess.run([os.path.join(BIN, "placehub-dispatch"), "-c", hub.config_path,
                             "--check-config"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "'person.adress.postcode' is not a field of admission; did you mean " \
           "'person.address.postcode'?" in result.stderr
    assert f"{hub.config_path}:" in result.stderr


# --- no personal data in any log ----------------------------------------------------------

NHS = "9995551233"  # valid check digit, never-issued range
GIVEN, FAMILY = "Zebedee Hortensius", "Quillfeather-Marchbanks"
STREET, LOCALITY, POSTCODE = "17 Quagga Crescent", "Little Snoringham", "SK4 7QZ"
BIRTH = "1931-07-23"
NOTE = "Keysafe behind the blue gnome, code Tarragon"
REASON = "Grieving the loss of Pumpernickel the parrot"
CONTACT = "0161 496 0777"
LOCAL_ID = "HQ9876543"
HL7_NHS, HL7_FAMILY, HL7_GIVEN = "9995551241", "Ottershaw-Penhaligon", "Wilhelmina"
HL7_STREET = "3 Wombat Mews"
SECRETS = [NHS, GIVEN, FAMILY, "Zebedee", "Quillfeather", STREET, "Quagga", LOCALITY,
           POSTCODE, BIRTH, "19310723", NOTE, "Tarragon", REASON, "Pumpernickel", CONTACT,
           LOCAL_ID, HL7_NHS, HL7_FAMILY, HL7_GIVEN, HL7_STREET, "Wombat", "999 555 1233",
           PERSON_KEY, HOUSING_KEY]


def distinctive(event_type, rng, **changes):
    event = quiet(events.make(event_type, rng))
    event["person"].update(nhs_number=NHS, given_name=GIVEN, family_name=FAMILY,
                           date_of_birth=BIRTH,
                           address={"lines": [STREET, LOCALITY], "postcode": POSTCODE},
                           local_identifiers=[{"system": "https://example.invalid/Id/x",
                                               "value": LOCAL_ID}],
                           gp_practice_ods_code="P99001")
    if "notes" in event:
        event["notes"] = NOTE
    if event_type == "referral":
        event["reason"] = REASON
        event["referrer"]["contact"] = CONTACT
    event.update(changes)
    return event


def test_no_personal_data_in_any_log(make_hub, monkeypatch):
    """The whole flow at debug level: JSON and HL7 intake, delivery to two
    partners (one cut to a narrow agreement with a pseudonym), a suppression,
    a dead letter (the partner answers 422 quoting the person back), retries
    (503s), and rejected requests that carry the values themselves. None of
    the invented values appears in any program's output."""
    for number in (NHS, HL7_NHS):
        assert events.nhs_check_digit(number[:9]) == int(number[9]), number
    monkeypatch.setenv("PLACEHUB_LOG_LEVEL", "debug")
    mllp_port = free_port()
    hub = make_hub(
        {"housing": ["admission", "discharge"], "leisure": ["referral", "discharge"]},
        partner_options={"housing": {"agreements": [agreement(
            "housing-stays", ["admission", "discharge"],
            ["person.given_name", "person.family_name", "person.address", "ward"],
            pseudonym_key="env:TEST_HOUSING_KEY")]}},
        governance={"person_key": "env:TEST_PERSON_KEY"},
        env={"TEST_HOUSING_KEY": HOUSING_KEY, "TEST_PERSON_KEY": PERSON_KEY},
        extra_topics=["hl7-raw"],
        extra_config=f'mllp:\n  listen: "127.0.0.1:{mllp_port}"\n')
    mllp = hub.start_program("mllp")
    rng = random.Random(1931)
    housing, leisure = hub.partners["housing"], hub.partners["leisure"]

    # Delivered (after two 503s at the housing partner).
    housing.behave(status=503, times=2)
    delivered = {post_ok(hub, "admission", distinctive("admission", rng)),
                 post_ok(hub, "discharge", distinctive("discharge", rng))}
    # Suppressed for housing (objection), delivered to the leisure partner's
    # permissive direct-care agreement.
    objected = distinctive("discharge", rng)
    objected["sharing"]["objected_to_non_care_sharing"] = True
    suppressed = post_ok(hub, "discharge", objected)
    # Dead-lettered: the leisure partner refuses it and quotes it back. (First
    # let it finish what earlier tests left on the module's broker, so the
    # refusal meets this event.)
    wait_until(lambda: {suppressed} <= set(received_by_id(leisure, {suppressed})), 60,
               "the discharge at leisure")
    ends = hub.broker.end_offsets(["referral", "discharge"])
    wait_until(lambda: hub.broker.committed(hub.group("leisure"), ["referral", "discharge"])
               == ends, 60, "leisure to be done with everything before")
    leisure.behave(status=422, times=1, body={"error": f"unknown patient {GIVEN} {FAMILY}",
                                              "nhs_number": NHS, "note": NOTE})
    dead = post_ok(hub, "referral", distinctive("referral", rng))
    # Rejected at the door, with the values in the request.
    bad = distinctive("admission", rng)
    bad["person"]["nhs_number"] = NHS[:9] + str((int(NHS[9]) + 1) % 10)
    assert hub.post("admission", bad).status_code == 422
    assert hub.post("admission", json.dumps(distinctive("admission", rng))[:-9]).status_code == 400
    unknown = distinctive("admission", rng, bed=f"{FAMILY} {NOTE}")
    assert hub.post("admission", unknown).status_code == 422
    assert hub.post("admissions", distinctive("admission", rng)).status_code == 404
    # HL7 v2 over MLLP, accepted and one refused.
    wait_until(mllp.alive, 5, "placehub-mllp to run")
    with open(os.path.join(REPO, "tests", "data", "hl7", "a01.hl7"), "rb") as f:
        a01 = f.read()
    a01 = (a01.replace(b"9990123454", HL7_NHS.encode())
           .replace(b"Holloway^Margaret", f"{HL7_FAMILY}^{HL7_GIVEN}".encode())
           .replace(b"12 Mill Lane", HL7_STREET.encode()).replace(b"RXX0001", b"RXX7770"))
    deadline = time.monotonic() + 60
    while True:
        try:
            client = hl7.client.MLLPClient("127.0.0.1", mllp_port)
            break
        except OSError:
            assert time.monotonic() < deadline, mllp.output()
            time.sleep(0.2)
    with client:
        ack = client.send_message(a01)
        assert b"MSA|AA" in ack, ack
        refused = a01.replace(HL7_NHS.encode(), (HL7_NHS[:9] + "0").encode()).replace(
            b"RXX7770", b"RXX7771")
        ack = client.send_message(refused)
        assert b"MSA|AR" in ack, ack

    # Everything reached its end: delivered, suppressed, dead-lettered.
    wait_until(lambda: delivered <= set(received_by_id(housing, delivered)), 60,
               "the two deliveries at housing")
    wait_until(lambda: any(HL7_FAMILY in r["body"] for r in housing.requests()), 60,
               "the HL7 admission at housing")
    wait_until(lambda: dead in {r["event_id"] for r in audit(hub, "delivery")
                                if r["outcome"] == "dead_lettered"}, 60, "the dead letter")
    wait_until(lambda: suppressed in {r["event_id"] for r in audit(hub, "suppression")}, 30,
               "the suppression record")
    # The values did flow (else the check below would prove nothing).
    bodies = " ".join(r["body"] for r in housing.requests() + leisure.requests())
    for value in (GIVEN, FAMILY, STREET, NHS, REASON, NOTE, HL7_FAMILY, HL7_STREET):
        assert value in bodies, value
    assert NHS not in " ".join(r["body"] for r in housing.requests()), "housing got the number"

    logs = hub.logs()
    assert "DEVELOPMENT PERSON KEY" not in logs["ingest"], "the configured key was not used"
    for process, text in logs.items():
        assert text.strip(), f"{process} wrote no log at all"
        for value in SECRETS:
            assert value not in text, f"{value!r} appears in {process}'s log"
        assert " debug " in text or process.startswith("partner") or process == "registry", \
            f"{process} did not log at debug level"


# --- redelivery by placehub-ctl ----------------------------------------------------------

STAY_FIELDS = ["priority", "person.given_name", "person.family_name", "person.address.postcode",
               "encounter_id", "ward"]


def test_redelivery_by_ctl_keeps_to_the_agreement(make_hub, broker):
    """placehub-ctl replay --redeliver sends as dispatch does: cut to the
    agreement, with the partner's pseudonym, a disclosure record naming the
    agreement and fields; an event the agreement refuses is not sent and
    leaves a suppression record."""
    hub = make_hub(
        {"housing": ["admission"]},
        partner_options={"housing": {"agreements": [agreement(
            "housing-stays", ["admission"], STAY_FIELDS,
            pseudonym_key="env:TEST_HOUSING_KEY")]}},
        env={"TEST_HOUSING_KEY": HOUSING_KEY})
    rng = random.Random(808)
    plain = quiet(events.admission(rng, with_hub_fields=True))
    plain_id = post_ok(hub, "admission", plain)
    # The same person, who objected later: replayed by NHS number, only
    # this test's two events match on the module's shared broker.
    nhs = plain["person"]["nhs_number"]
    objected = quiet(events.admission(rng, nhs=nhs))
    objected["sharing"]["objected_to_non_care_sharing"] = True
    objected_id = post_ok(hub, "admission", objected)
    housing = hub.partners["housing"]
    wait_until(lambda: plain_id in received_by_id(housing, {plain_id}), 60, "first delivery")
    wait_until(lambda: any(r["event_id"] == objected_id for r in audit(hub, "suppression")), 30,
               "dispatch's suppression")
    before = housing.count()

    env = dict(os.environ, TEST_HOUSING_KEY=HOUSING_KEY)
    result = subprocess.run([os.path.join(BIN, "placehub-ctl"), "replay", "--nhs", nhs,
                             "--redeliver", "housing", "--json", "-c", hub.config_path],
                            capture_output=True, text=True, timeout=120, env=env)
    summary = json.loads(result.stdout.splitlines()[-1])
    assert summary["matched"] == 2 and summary["delivered"] == 1, result.stdout + result.stderr

    again = housing.requests(since=before)
    assert [r["json"]["event_id"] for r in again] == [plain_id], "only the allowed event went"
    assert again[0]["json"] == minimised(plain, STAY_FIELDS, HOUSING_KEY)
    replayed = [r for r in audit(hub) if r.get("via") == "replay"]
    [receipt] = [r for r in replayed if r["record"] == "delivery"]
    assert receipt["event_id"] == plain_id and receipt["agreement"] == "housing-stays"
    assert receipt["fields"] == sorted(disclosed_paths(again[0]["json"]))
    assert receipt["pseudonymised"] is True
    [suppressed] = [r for r in replayed if r["record"] == "suppression"]
    assert suppressed["event_id"] == objected_id and suppressed["reason"] == "objection"
    assert suppressed["agreement"] == "housing-stays"
