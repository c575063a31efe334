"""Invented events of every type, complete (every field present) so that what
a partner receives can be compared field by field with what was sent. They
are written for the topics' latest schema version (2); a test of an older
version's senders changes schema_version and drops the newer fields.

People are invented; NHS numbers come only from the never-issued range
999 000 0000 - 999 999 9999, with valid check digits.
"""
import datetime
import random
import uuid

GIVEN = ["Ada", "Bernard", "Cerys", "Dilip", "Eunice", "Farhan", "Gwen", "Hamish", "Ifeoma",
         "Jerzy", "Kezia", "Lorcan", "Marisol", "Nnamdi", "Orla", "Piotr"]
FAMILY = ["Abernethy", "Brightwater", "Castellan", "Dunmore", "Evershed", "Fairclough",
          "Gillibrand", "Hartigan", "Isherwood", "Jessop", "Kilbride", "Lockwood"]
STREETS = ["Mill Lane", "Hope Street", "Canal Side", "Orchard Row", "Chapel Brow"]


def nhs_check_digit(nine):
    total = sum(int(d) * (10 - i) for i, d in enumerate(nine))
    check = 11 - total % 11
    return None if check == 10 else (0 if check == 11 else check)


def nhs_number(rng):
    """A valid NHS number from the never-issued 999 range."""
    while True:
        nine = "999" + "".join(str(rng.randrange(10)) for _ in range(6))
        check = nhs_check_digit(nine)
        if check is not None:
            return nine + str(check)


def invalid_nhs_number(rng):
    """A 999-range number whose check digit is wrong."""
    good = nhs_number(rng)
    return good[:9] + str((int(good[9]) + 1) % 10)


def timestamp(rng, base=datetime.datetime(2026, 11, 1, tzinfo=datetime.timezone.utc)):
    moment = base + datetime.timedelta(seconds=rng.randrange(0, 30 * 86400),
                                       milliseconds=rng.randrange(1000))
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def date(rng, start_year=1930, end_year=2008):
    day = datetime.date(start_year, 1, 1) + datetime.timedelta(
        days=rng.randrange((end_year - start_year) * 365))
    return day.isoformat()


def maybe(rng, value, chance=0.7):
    return value if rng.random() < chance else None


def no_reference(rng):
    """cancels_event_id (and supersedes_event_id) of a generated event: None.
    Dispatch sends a cancellation or correction only to partners that
    received the event it names (docs/governance.md), so a random id would
    make the event go nowhere; the tests of cancellations and corrections
    build their own. The random draws an id once took are still made, so
    that every seeded test gets the events it always got otherwise."""
    maybe(rng, str(uuid.UUID(int=rng.getrandbits(128), version=4)), 0.2)
    return None


def person(rng, nhs=None):
    return {
        "nhs_number": nhs or nhs_number(rng),
        "local_identifiers": [{"system": "https://fhir.example-trust.nhs.uk/Id/hospital-number",
                               "value": f"H{rng.randrange(10**7):07d}"}][:rng.randrange(2)],
        "given_name": rng.choice(GIVEN),
        "family_name": rng.choice(FAMILY),
        "date_of_birth": maybe(rng, date(rng)),
        "address": maybe(rng, {"lines": [f"{rng.randrange(1, 200)} {rng.choice(STREETS)}",
                                         "Stockport"],
                               "postcode": maybe(rng, f"SK{rng.randrange(1, 9)} 9XX")}),
        "gp_practice_ods_code": maybe(rng, f"P99{rng.randrange(1000):03d}"),
    }


def envelope(rng, nhs=None, with_hub_fields=False):
    event = {
        "schema_version": 2,
        "occurred_at": timestamp(rng),
        "source_ods_code": rng.choice(["RXX", "P99001", "U99001"]),
        "correlation_id": maybe(rng, str(uuid.UUID(int=rng.getrandbits(128), version=4))),
        "priority": rng.choice(["ROUTINE", "URGENT", "EMERGENCY"]),
        "person": person(rng, nhs),
        "sharing": {"objected_to_non_care_sharing": rng.random() < 0.2,
                    "restricted_record": rng.random() < 0.1},
        "notes": maybe(rng, "Invented note: prefers a morning call.", 0.3),
    }
    if with_hub_fields:
        event["event_id"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        event["recorded_at"] = timestamp(rng)
    return event


def professional(rng):
    return {"ods_code": maybe(rng, "P99001"), "organisation_name": maybe(rng, "Invented Surgery"),
            "name": maybe(rng, f"Dr {rng.choice(FAMILY)}"), "role": maybe(rng, "GP"),
            "contact": maybe(rng, "0161 496 0000")}


def service(rng, kind):
    return {"ods_code": maybe(rng, "NXX01"), "name": f"Invented {kind} service",
            "service_type": maybe(rng, kind)}


def admission(rng, **kw):
    e = envelope(rng, **kw)
    e.update({
        "event_type": rng.choice(["ADMITTED", "TRANSFERRED", "ADMISSION_CANCELLED",
                                  "TRANSFER_CANCELLED"]),
        "cancels_event_id": no_reference(rng),
        "supersedes_event_id": None,
        "encounter_id": maybe(rng, f"V{rng.randrange(10**8):08d}"),
        "admitted_at": maybe(rng, timestamp(rng)),
        "admission_method": maybe(rng, rng.choice(["ELECTIVE", "EMERGENCY", "MATERNITY",
                                                   "TRANSFER", "OTHER"])),
        "admitting_specialty": maybe(rng, "General medicine"),
        "site_ods_code": maybe(rng, "RXX01"),
        "ward": maybe(rng, f"Ward {rng.randrange(1, 30)}"),
        "previous_site_ods_code": maybe(rng, "RXX02", 0.2),
        "previous_ward": maybe(rng, "Ward 2", 0.2),
    })
    return e


def discharge(rng, **kw):
    e = envelope(rng, **kw)
    e.update({
        "event_type": rng.choice(["DISCHARGE_PENDING", "DISCHARGED", "DISCHARGE_CANCELLED"]),
        "cancels_event_id": no_reference(rng),
        "supersedes_event_id": None,
        "encounter_id": maybe(rng, f"V{rng.randrange(10**8):08d}"),
        "site_ods_code": maybe(rng, "RXX01"),
        "ward": maybe(rng, f"Ward {rng.randrange(1, 30)}"),
        "expected_discharge_date": maybe(rng, date(rng, 2026, 2027)),
        "discharged_at": maybe(rng, timestamp(rng)),
        "discharge_destination": maybe(rng, rng.choice(["HOME", "CARE_HOME", "NURSING_HOME",
                                                        "OTHER_HOSPITAL", "HOSPICE", "OTHER"])),
        "lives_alone": maybe(rng, rng.random() < 0.5),
        "care_needs": rng.sample(["PERSONAL_CARE", "MEDICATION_SUPPORT", "EQUIPMENT",
                                  "HOME_NOT_READY", "TRANSPORT_HOME"], rng.randrange(4)),
        "care_package_restart_required": maybe(rng, rng.random() < 0.5),
    })
    return e


def referral(rng, **kw):
    e = envelope(rng, **kw)
    e.update({
        "event_type": rng.choice(["REFERRAL_SENT", "REFERRAL_ACCEPTED", "REFERRAL_REJECTED",
                                  "REFERRAL_CLOSED", "REFERRAL_CANCELLED"]),
        "cancels_event_id": no_reference(rng),
        "supersedes_event_id": None,
        "referral_id": f"P99001-{rng.randrange(10**6):06d}",
        "referrer": professional(rng),
        "receiving_service": service(rng, rng.choice(["LEISURE", "HOUSING_SUPPORT",
                                                      "DRUG_AND_ALCOHOL"])),
        "urgency": rng.choice(["ROUTINE", "URGENT"]),
        "reason": maybe(rng, "Invented reason: low mood, would like to swim."),
        "outcome_reason": maybe(rng, "Invented outcome.", 0.2),
    })
    return e


def employment_support(rng, **kw):
    e = envelope(rng, **kw)
    e.update({
        "event_type": rng.choice(["REFERRED", "ENGAGED", "JOB_START", "SUSTAINED_EMPLOYMENT",
                                  "DISENGAGED", "CLOSED", "CANCELLED"]),
        "cancels_event_id": no_reference(rng),
        "supersedes_event_id": None,
        "referral_id": f"U99001-{rng.randrange(10**6):06d}",
        "programme": rng.choice(["INDIVIDUAL_PLACEMENT_AND_SUPPORT", "WORKING_WELL", "OTHER"]),
        "programme_name": maybe(rng, "Invented programme"),
        "stage": rng.choice(["REFERRED", "ENGAGED", "JOB_START", "SUSTAINED"]),
        "provider": service(rng, "EMPLOYMENT_SUPPORT"),
        "referrer": maybe(rng, professional(rng)),
        "care_coordinator": maybe(rng, professional(rng)),
        "job_start_date": maybe(rng, date(rng, 2026, 2027)),
        "outcome_reason": maybe(rng, "Invented outcome.", 0.2),
    })
    return e


GENERATORS = {"admission": admission, "discharge": discharge, "referral": referral,
              "employment-support": employment_support}


def make(event_type, rng, **kw):
    return GENERATORS[event_type](rng, **kw)


def plain_admission(rng, nhs, **fields):
    """An ADMITTED event for nhs that nothing on the event itself keeps from
    anyone (no sharing flags, no cancellation or correction), with fields
    set over it; a cancels_event_id among them makes it an
    ADMISSION_CANCELLED. For the tests of the register and the ledger."""
    event = admission(rng, nhs=nhs)
    event.update({"event_type": "ADMITTED", "cancels_event_id": None,
                  "supersedes_event_id": None,
                  "sharing": {"objected_to_non_care_sharing": False,
                              "restricted_record": False}})
    event.update(fields)
    if fields.get("cancels_event_id"):
        event["event_type"] = "ADMISSION_CANCELLED"
    return event
