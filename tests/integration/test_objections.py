"""Objections in (issue 15, parts 1a and 5; docs/security.md, docs/operations.md):
POST /v1/objections and POST /v1/objections/withdraw on placehub-ingest, and
placehub-ctl objection record|withdraw|show. Each change is two records, the
change on the objections topic keyed "<person_ref>|<scope>" and its audit
record on the audit topic keyed by person_ref, with no NHS number anywhere;
a partner needs ingest.objections: true; every refusal names the field and
leaves the topics' ends where they were."""
import json
import os
import random
import subprocess

import pytest
import requests

import events
import harness
from harness import BIN, Hub

CTL = os.path.join(BIN, "placehub-ctl")
VALID_SCOPES = ["national_data_opt_out", "local:purpose:secondary_use",
                "local:purpose:direct_care", "local:partner:<partner id>"]
# Invented people, from the never-issued 999 range.
PERSON_API = "9990123454"
PERSON_CTL = "9990633177"
PERSON_NONE = "9990882649"


@pytest.fixture(scope="module")
def hub(broker):
    hub = Hub(broker, {}, start_dispatch=False, publishers={
        "gp-practice": {"publishes": ["referral"], "source_ods_codes": ["P99001"],
                        "objections": True},
        "housing": {"publishes": ["referral"], "source_ods_codes": ["U99001"]},
    })
    yield hub
    hub.stop()


def post(hub, path, body, partner="gp-practice", headers=None):
    sent = {"Content-Type": "application/json"}
    if partner:
        sent["Authorization"] = f"Bearer {hub.keys[partner]}"
    sent.update(headers or {})
    data = body if isinstance(body, str) else json.dumps(body)
    return requests.post(hub.ingest_url + path, data=data, headers=sent, timeout=60)


def objection(nhs, scope="national_data_opt_out", by="gp-reception"):
    return {"nhs_number": nhs, "scope": scope, "recorded_by": by}


def ends(hub):
    return hub.broker.end_offsets([hub.objections_topic, hub.audit_topic])


def records(hub, topic):
    """(key, value as JSON or None) of every record of topic."""
    return [(key.decode() if key else None, json.loads(value) if value else None)
            for key, value, _ in hub.broker.read_topic(topic)]


def assert_no_nhs_number(hub, *numbers):
    for topic in (hub.objections_topic, hub.audit_topic):
        for key, value, _ in hub.broker.read_topic(topic):
            text = (key or b"").decode() + (value or b"").decode()
            for number in numbers:
                assert number not in text and number[:3] + " " + number[3:6] not in text, topic


def ctl(hub, *args):
    return subprocess.run([CTL, "objection", *args, "-c", hub.config_path],
                          capture_output=True, text=True, timeout=120)


def test_record_writes_the_change_and_its_audit_record(hub):
    before = ends(hub)
    answer = post(hub, "/v1/objections", objection("999 012 3454"))
    assert answer.status_code == 202, answer.text
    body = answer.json()
    person_ref = body["person_ref"]
    assert len(person_ref) == 32 and set(person_ref) <= set("0123456789abcdef")
    assert body["scope"] == "national_data_opt_out"
    assert body["state"] == "recorded"
    assert body["topic"] == hub.objections_topic
    after = ends(hub)
    assert after[hub.objections_topic] == before[hub.objections_topic] + 1
    assert after[hub.audit_topic] == before[hub.audit_topic] + 1

    key = f"{person_ref}|national_data_opt_out"
    changes = [value for k, value in records(hub, hub.objections_topic) if k == key]
    assert changes[-1] == {"record": "objection", "person_ref": person_ref,
                           "scope": "national_data_opt_out", "state": "recorded",
                           "changed_at": body["changed_at"], "recorded_by": "gp-reception",
                           "source": "api:gp-practice"}
    audits = [value for k, value in records(hub, hub.audit_topic)
              if k == person_ref and value.get("record") == "objection_change"]
    assert audits[-1] == {"record": "objection_change", "person_ref": person_ref,
                          "scope": "national_data_opt_out", "state": "recorded",
                          "changed_at": body["changed_at"], "recorded_by": "gp-reception",
                          "source": "api:gp-practice"}
    assert_no_nhs_number(hub, PERSON_API)
    log = hub.logs()["ingest"]
    assert PERSON_API not in log and "999 012 3454" not in log


def test_every_typed_form_gives_the_person_ref_of_the_persons_events(hub):
    refs = set()
    for typed in ("9990123454", "999 012 3454", "999-012-3454"):
        answer = post(hub, "/v1/objections", objection(typed, "local:purpose:secondary_use"))
        assert answer.status_code == 202, answer.text
        refs.add(answer.json()["person_ref"])
    assert len(refs) == 1
    # The same reference keys the person's events: dispatch can look it up.
    event = events.make("referral", random.Random(15), nhs=PERSON_API)
    event["source_ods_code"] = "P99001"
    before = hub.broker.partition_ends(["referral"])
    sent = requests.post(f"{hub.ingest_url}/v1/events/referral", json=event, timeout=60,
                         headers={"Authorization": f"Bearer {hub.keys['gp-practice']}"})
    assert sent.status_code == 202, sent.text
    keys = [key.decode() for key, _, _ in hub.broker.read_topic("referral")]
    assert len(keys) == sum(before.values()) + 1
    assert next(iter(refs)) in keys


def test_withdraw(hub):
    scope = "local:partner:housing"
    recorded = post(hub, "/v1/objections", objection("999-012-3454", scope, "ig-team"))
    assert recorded.status_code == 202, recorded.text
    withdrawn = post(hub, "/v1/objections/withdraw", objection("9990123454", scope, "ig-team"))
    assert withdrawn.status_code == 202, withdrawn.text
    body = withdrawn.json()
    assert body["state"] == "withdrawn" and body["scope"] == scope
    assert body["offset"] > recorded.json()["offset"]
    assert body["partition"] == recorded.json()["partition"]  # one key, one partition
    key = f"{body['person_ref']}|{scope}"
    changes = [value for k, value in records(hub, hub.objections_topic) if k == key]
    assert [c["state"] for c in changes[-2:]] == ["recorded", "withdrawn"]
    audits = [value for k, value in records(hub, hub.audit_topic)
              if k == body["person_ref"] and value.get("scope") == scope]
    assert [a["state"] for a in audits[-2:]] == ["recorded", "withdrawn"]
    # DELETE is not how: the answer says what is.
    answer = requests.delete(hub.ingest_url + "/v1/objections", timeout=30,
                             headers={"Authorization": f"Bearer {hub.keys['gp-practice']}"})
    assert answer.status_code == 405
    assert "/v1/objections/withdraw" in answer.json()["error"]["message"]


def test_a_partner_without_the_right_is_refused(hub):
    before = ends(hub)
    for path in ("/v1/objections", "/v1/objections/withdraw"):
        answer = post(hub, path, objection(PERSON_API), partner="housing")
        assert answer.status_code == 403, answer.text
        assert answer.json()["error"]["code"] == "objections_not_allowed"
        assert "housing" in answer.json()["error"]["message"]
    answer = post(hub, "/v1/objections", objection(PERSON_API), partner=None)
    assert answer.status_code == 401
    assert ends(hub) == before


@pytest.mark.parametrize("body, status, field, code, hints", [
    (objection("9990123455"), 422, "nhs_number", "invalid_nhs_number", ["check digit"]),
    (objection("999 012 345"), 422, "nhs_number", "invalid_nhs_number", ["has 9 digits"]),
    (objection("999 012-3454"), 422, "nhs_number", "invalid_nhs_number", ["mixes"]),
    (objection("999O123454"), 422, "nhs_number", "invalid_nhs_number",
     ["a letter at position 4"]),
    (objection(PERSON_API, "opt_out"), 422, "scope", "unknown_scope", VALID_SCOPES),
    (objection(PERSON_API, "local:partner:leisure"), 422, "scope", "unknown_scope",
     ["gp-practice", "housing"]),
    (objection(PERSON_API, by="Jane Example"), 422, "recorded_by", "invalid_recorded_by",
     ["no names"]),
    ({**objection(PERSON_API), "name": "Jane"}, 422, "name", "unknown_field", ["name"]),
    ({"nhs_number": PERSON_API, "scope": "national_data_opt_out"}, 422, "recorded_by",
     "missing_field", ["required"]),
    ('{"nhs_number": "9990123454",\n "scope": }', 400, None, "malformed_json",
     ["line 2, column"]),
])
def test_refusals_name_the_field_and_write_nothing(hub, body, status, field, code, hints):
    before = ends(hub)
    answer = post(hub, "/v1/objections", body)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["code"] == code
    assert error.get("field") == field
    for hint in hints:
        assert hint in error["message"]
    # The reason never repeats the number.
    assert "0123454" not in error["message"] and "012 345" not in error["message"]
    assert ends(hub) == before


def test_ctl_record_show_withdraw_round_trip(hub):
    scope = "local:purpose:direct_care"
    result = ctl(hub, "record", "--nhs", "999 063 3177", "--scope", scope, "--by", "gp-reception")
    assert result.returncode == 0, result.stderr
    assert "recorded" in result.stdout and scope in result.stdout

    shown = ctl(hub, "show", "--nhs", "999-063-3177", "--format", "json")
    assert shown.returncode == 0, shown.stderr
    document = json.loads(shown.stdout)
    assert document["topic"] == hub.objections_topic
    (row,) = document["objections"]
    assert row["scope"] == scope and row["state"] == "recorded"
    assert row["recorded_by"] == "gp-reception" and row["source"] == "ctl"
    person_ref = document["person_ref"]

    result = ctl(hub, "withdraw", "--nhs", PERSON_CTL, "--scope", scope, "--by", "ig-team",
                 "--format", "json")
    assert result.returncode == 0, result.stderr
    withdrawn = json.loads(result.stdout)
    assert withdrawn["state"] == "withdrawn" and withdrawn["person_ref"] == person_ref

    shown = ctl(hub, "show", "--nhs", PERSON_CTL)
    assert shown.returncode == 0, shown.stderr
    line = next(l for l in shown.stdout.splitlines() if l.startswith(scope))
    assert "withdrawn" in line and "ig-team" in line and " ctl" in line
    assert withdrawn["changed_at"] in line
    assert PERSON_CTL not in shown.stdout + shown.stderr

    # The same two records as the API's, source "ctl".
    audits = [value for k, value in records(hub, hub.audit_topic)
              if k == person_ref and value.get("record") == "objection_change"]
    assert [(a["state"], a["source"]) for a in audits] == [("recorded", "ctl"),
                                                           ("withdrawn", "ctl")]
    assert_no_nhs_number(hub, PERSON_CTL)


def test_ctl_show_reads_what_the_api_recorded(hub):
    answer = post(hub, "/v1/objections", objection(PERSON_API, "national_data_opt_out"))
    assert answer.status_code == 202, answer.text
    shown = ctl(hub, "show", "--nhs", "999 012 3454", "--json")
    assert shown.returncode == 0, shown.stderr
    document = json.loads(shown.stdout)
    assert document["person_ref"] == answer.json()["person_ref"]
    states = {row["scope"]: (row["state"], row["source"]) for row in document["objections"]}
    assert states["national_data_opt_out"] == ("recorded", "api:gp-practice")
    assert states["local:partner:housing"] == ("withdrawn", "api:gp-practice")
    # Nobody else's records.
    none = ctl(hub, "show", "--nhs", PERSON_NONE, "--format", "json")
    assert none.returncode == 3, none.stderr
    assert json.loads(none.stdout)["objections"] == []


@pytest.mark.parametrize("args, hint", [
    (["record", "--nhs", "999 063 3178", "--scope", "national_data_opt_out", "--by", "gp"],
     "check digit"),
    (["withdraw", "--nhs", "99906331", "--scope", "national_data_opt_out", "--by", "gp"],
     "has 8 digits"),
    (["show", "--nhs", "999-063 3177"], "mixes spaces and hyphens"),
    (["record", "--nhs", PERSON_CTL, "--scope", "opt_out", "--by", "gp"],
     "valid scopes: national_data_opt_out"),
    (["record", "--nhs", PERSON_CTL, "--scope", "national_data_opt_out", "--by", "a@b.org"],
     "an @ at position 2"),
    (["record", "--nhs", PERSON_CTL, "--scope", "national_data_opt_out"], "--by"),
])
def test_ctl_refuses_with_exit_2_and_the_reason(hub, args, hint):
    before = ends(hub)
    result = ctl(hub, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert hint in result.stderr
    assert "nothing written" in result.stderr or "Try --help" in result.stderr
    assert "0633" not in result.stderr
    assert ends(hub) == before


def test_ctl_help_teaches(hub):
    result = subprocess.run([CTL, "objection", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for text in ("record", "withdraw", "show", "Examples:", "--format", *VALID_SCOPES[:3]):
        assert text in result.stdout
    top = subprocess.run([CTL, "--help"], capture_output=True, text=True).stdout
    assert "objection record|withdraw|show" in top
