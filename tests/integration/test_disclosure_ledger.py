"""Corrections follow disclosures, on a real broker (docs/governance.md,
"The disclosure ledger" and "Corrections follow disclosures").

A cancellation or correction goes to every partner that received the
original and to no other, whatever today's agreements say: the agreement
that let the admission go to housing is changed before the cancellation
comes, and the cancellation still reaches housing, and only housing; a
cancellation of an event nobody received goes nowhere; the same holds
after dispatch restarts with its ledger file deleted (rebuilt from the
audit topic); and `placehub-ctl subject-access` reports exactly the
deliveries the simulated partners saw."""
import json
import os
import random
import subprocess

import pytest

import events
from harness import BIN, TEST_PUBLISHER, wait_until

HOUSING, LEISURE = "housing", "leisure"
CTL = os.path.join(BIN, "placehub-ctl")

# housing may have admissions (names and ward); leisure's agreement covers
# admissions only in a district no test person lives in.
HOUSING_STAYS = {"id": "housing-stays", "purpose": "tests: a tenant's hospital stay",
                 "legal_basis": "test data only", "event_types": ["admission"],
                 "fields": ["person.given_name", "person.nhs_number", "ward", "encounter_id"],
                 "direct_care": False}
LEISURE_NOBODY = {"id": "leisure-area", "purpose": "tests: nobody's area",
                  "legal_basis": "test data only", "event_types": ["admission"],
                  "fields": ["person.given_name", "person.nhs_number", "ward"],
                  "conditions": {"postcode_districts": ["ZE3"]}}
# After the change: housing's agreement no longer covers admissions (it
# lapsed), leisure's covers everyone.
HOUSING_LAPSED = dict(HOUSING_STAYS, id="housing-stays", event_types=["discharge"],
                      fields=["person.given_name"])
LEISURE_EVERYONE = {k: v for k, v in LEISURE_NOBODY.items() if k != "conditions"}


def make(make_hub, start_dispatch=True):
    return make_hub({HOUSING: ["admission", "discharge"], LEISURE: ["admission"]},
                    start_dispatch=start_dispatch,
                    partner_options={HOUSING: {"agreements": [HOUSING_STAYS]},
                                     LEISURE: {"agreements": [LEISURE_NOBODY]}},
                    publishers={TEST_PUBLISHER: {"objections": True,
                                                 "rate_limit": {"events_per_second": 1000,
                                                                "burst": 1000}}})


def admit(hub, rng, nhs, **fields):
    """A plain admission in Ward 7 at an address in SK4, fields over it."""
    event = events.plain_admission(rng, nhs, **{"ward": "Ward 7", **fields})
    event["person"]["address"] = {"lines": ["1 Invented Street"], "postcode": "SK4 1AA"}
    answer = hub.post("admission", event)
    assert answer.status_code == 202, answer.text
    return answer.json()["event_id"]


def received(hub, partner_id):
    return {e["event_id"]: e for e in hub.partners[partner_id].delivered_events()}


def audit(hub):
    return [json.loads(value) for _, value, _ in hub.broker.read_topic(hub.audit_topic)]


def final_records(hub, event_ids, partners=(HOUSING, LEISURE)):
    """Waits for a final record of every event at every partner; returns
    them by (partner, event_id)."""
    def records():
        return {(r["partner"], r["event_id"]): r for r in audit(hub)
                if r.get("record") in ("delivery", "suppression")}
    wait_until(lambda: all((p, e) in records() for p in partners for e in event_ids), 60,
               "a final record of every event at every partner")
    return records()


def change_agreements(hub, changes):
    """Rewrites the hub's configuration: each (old, new) agreement pair."""
    with open(hub.config_path) as f:
        text = f.read()
    for old, new in changes:
        assert json.dumps(old) in text
        text = text.replace(json.dumps(old), json.dumps(new))
    with open(hub.config_path, "w") as f:
        f.write(text)


def restart_dispatch(hub, delete_ledger=False):
    hub.dispatch.stop()
    ledger = os.path.join(hub.workdir, "ledger.db")
    if delete_ledger:
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(ledger + suffix):
                os.unlink(ledger + suffix)
        assert not os.path.exists(ledger)
    hub.start_dispatch()
    return ledger


@pytest.mark.parametrize("delete_ledger", [False, True], ids=["ledger-kept", "ledger-deleted"])
def test_a_cancellation_follows_the_admission_not_todays_agreements(make_hub, delete_ledger):
    hub = make(make_hub)
    rng = random.Random(1501 + delete_ledger)
    person = events.nhs_number(rng)
    admission = admit(hub, rng, person)
    records = final_records(hub, [admission])
    assert admission in received(hub, HOUSING)
    assert records[(LEISURE, admission)]["reason"] == "condition"
    sent = records[(HOUSING, admission)]
    assert sent["agreement"] == "housing-stays" and len(sent["agreement_version"]) == 12

    # The agreements change: housing's no longer covers admissions, and
    # leisure's now covers this person.
    change_agreements(hub, [(HOUSING_STAYS, HOUSING_LAPSED), (LEISURE_NOBODY, LEISURE_EVERYONE)])
    ledger = restart_dispatch(hub, delete_ledger)
    cancellation = admit(hub, rng, person, cancels_event_id=admission)
    later = admit(hub, rng, person)
    records = final_records(hub, [cancellation, later])
    if delete_ledger:
        assert os.path.exists(ledger), "the ledger was not rebuilt"

    housing, leisure = received(hub, HOUSING), received(hub, LEISURE)
    assert cancellation in housing, "the partner that had the admission did not get its cancellation"
    assert cancellation not in leisure, "a cancellation went where the admission never did"
    assert later in leisure and later not in housing, "today's agreements decide new events"
    # It went under the agreement the admission went under, as it was then.
    receipt = records[(HOUSING, cancellation)]
    assert receipt["outcome"] == "delivered"
    assert receipt["agreement"] == "housing-stays"
    assert receipt["agreement_version"] == sent["agreement_version"]
    assert receipt["cancels_event_id"] == admission
    withheld = records[(LEISURE, cancellation)]
    assert withheld["record"] == "suppression" and withheld["reason"] == "not_disclosed"
    assert withheld["cancels_event_id"] == admission and withheld["agreement"] is None
    # Only what is needed to void it: the envelope and the identifiers the
    # admission carried to housing, not the name.
    body = housing[cancellation]
    assert body["cancels_event_id"] == admission
    assert body["person"] == {"nhs_number": person}
    assert body["ward"] == "Ward 7"
    envelope = {"event_id", "event_type", "schema_version", "occurred_at", "recorded_at",
                "source_ods_code", "correlation_id", "cancels_event_id", "supersedes_event_id",
                "sharing"}
    assert set(body) - envelope <= {"person", "ward", "encounter_id"}
    assert set(receipt["fields"]) - {"cancels_event_id"} <= set(sent["fields"])
    assert "person.given_name" not in receipt["fields"]


def test_a_cancellation_of_an_event_nobody_received_goes_nowhere(make_hub):
    hub = make(make_hub)
    rng = random.Random(1503)
    person = events.nhs_number(rng)
    # Kept from both: housing's agreement does not cover it (a restricted
    # record), leisure's condition does not hold.
    withheld = admit(hub, rng, person, sharing={"objected_to_non_care_sharing": False,
                                                "restricted_record": True})
    cancellation = admit(hub, rng, person, cancels_event_id=withheld)
    unknown = admit(hub, rng, person, cancels_event_id="0f5d6a8e-2b1c-4d3e-9f80-7a6b5c4d3e2f")
    records = final_records(hub, [withheld, cancellation, unknown])
    for event_id in (withheld, cancellation, unknown):
        for partner_id in (HOUSING, LEISURE):
            assert event_id not in received(hub, partner_id)
            assert records[(partner_id, event_id)]["record"] == "suppression"
    for event_id in (cancellation, unknown):
        for partner_id in (HOUSING, LEISURE):
            assert records[(partner_id, event_id)]["reason"] == "not_disclosed"


def test_a_correction_carries_what_the_original_disclosed_and_no_more(make_hub):
    hub = make(make_hub)
    rng = random.Random(1504)
    person = events.nhs_number(rng)
    original = admit(hub, rng, person)
    final_records(hub, [original])
    # Leisure may now have admissions; housing's agreement is narrowed to
    # the name. The correction (the ward was wrong) goes to housing only,
    # with the fields housing was sent then, the ward among them.
    narrowed = dict(HOUSING_STAYS, fields=["person.given_name"])
    change_agreements(hub, [(HOUSING_STAYS, narrowed), (LEISURE_NOBODY, LEISURE_EVERYONE)])
    restart_dispatch(hub)
    correction = admit(hub, rng, person, supersedes_event_id=original, ward="Ward 9")
    records = final_records(hub, [correction])
    housing = received(hub, HOUSING)
    assert correction in housing and correction not in received(hub, LEISURE)
    body = housing[correction]
    assert body["ward"] == "Ward 9" and body["supersedes_event_id"] == original
    assert "address" not in body["person"], "a field the original never disclosed"
    assert records[(HOUSING, correction)]["supersedes_event_id"] == original
    assert records[(LEISURE, correction)]["reason"] == "not_disclosed"


def subject_access(hub, nhs, *args):
    result = subprocess.run([CTL, "subject-access", "--nhs", nhs, "-c", hub.config_path, *args],
                            capture_output=True, text=True, timeout=120)
    return result


def test_subject_access_equals_what_the_partners_received(make_hub):
    hub = make(make_hub)
    rng = random.Random(1505)
    person, other = events.nhs_number(rng), events.nhs_number(rng)
    ours = [admit(hub, rng, person) for _ in range(3)]
    theirs = [admit(hub, rng, other) for _ in range(2)]
    final_records(hub, ours + theirs)
    objection = subprocess.run([CTL, "objection", "record", "--nhs", person, "--scope",
                                "national_data_opt_out", "--by", "ig-officer", "-c",
                                hub.config_path], capture_output=True, text=True, timeout=60)
    assert objection.returncode == 0, objection.stderr
    withheld = admit(hub, rng, person)  # housing is secondary use: the opt-out stops it
    cancellation = admit(hub, rng, person, cancels_event_id=ours[0])  # still reaches housing
    final_records(hub, [withheld, cancellation])

    spaced = f"{person[:3]} {person[3:6]} {person[6:]}"
    result = subject_access(hub, spaced, "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    entries = report["entries"]
    assert [e["at"] for e in entries] == sorted(e["at"] for e in entries)
    reported = {(e["partner"], e["event_id"]) for e in entries
                if e["what"] in ("disclosed", "cancellation sent")}
    observed = {(partner_id, event_id) for partner_id in (HOUSING, LEISURE)
                for event_id, body in received(hub, partner_id).items()
                if body.get("person", {}).get("nhs_number") == person}
    assert reported == observed, "the report and the partners disagree"
    assert (HOUSING, cancellation) in {(e["partner"], e["event_id"]) for e in entries
                                       if e["what"] == "cancellation sent"}
    whys = {(e["partner"], e["event_id"]): e["reason"] for e in entries if e["what"] == "withheld"}
    assert whys[(HOUSING, withheld)] == "objection:national_data_opt_out"
    assert whys[(LEISURE, ours[1])] == "condition"
    assert any(e["what"] == "objection recorded" and e["scope"] == "national_data_opt_out"
               for e in entries)
    assert not {e.get("event_id") for e in entries} & set(theirs), "another person's records"

    # The same report as text and CSV; a time window; refusals.
    text = subject_access(hub, person)
    assert text.returncode == 0 and "disclosed" in text.stdout and "housing-stays" in text.stdout
    csv = subject_access(hub, person, "--format", "csv")
    assert csv.stdout.count("\n") == len(entries) + 1
    late = subject_access(hub, person, "--from", entries[-1]["at"], "--format", "json")
    assert len(json.loads(late.stdout)["entries"]) >= 1
    assert len(json.loads(late.stdout)["entries"]) < len(entries)
    wrong = person[:9] + str((int(person[9]) + 1) % 10)
    refused = subject_access(hub, wrong)
    assert refused.returncode == 2 and "check digit" in refused.stderr.lower()
    assert subject_access(hub, person, "--format", "xml").returncode == 2
    nobody = subject_access(hub, events.nhs_number(random.Random(99)))
    assert nobody.returncode == 3 and "nothing on record" in nobody.stderr
