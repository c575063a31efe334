"""Bad input gets a clear error naming the field at fault, and nothing
reaches Kafka: for each kind of bad request, the topics' end offsets are the
same before and after."""
import json
import random

import pytest

import events
from harness import TOPICS


@pytest.fixture(scope="module")
def hub(broker):
    from harness import Hub
    hub = Hub(broker, {"housing": ["admission"]}, max_body_bytes=4096, start_dispatch=False)
    yield hub
    hub.stop()


def valid(event_type="admission"):
    return events.make(event_type, random.Random(3))


def with_change(change):
    event = valid()
    change(event)
    return event


CASES = [
    # (name, event type, body, status, error code, field)
    ("malformed JSON", "admission", '{"event_type": "ADMITTED",', 400, "malformed_json", None),
    ("not an object", "admission", "[1, 2, 3]", 422, "invalid_event", None),
    ("wrong type", "admission", with_change(lambda e: e.update(priority=5)), 422,
     "invalid_event", "priority"),
    ("wrong nested type", "admission",
     with_change(lambda e: e["person"].update(given_name=["Ada"])), 422, "invalid_event",
     "person.given_name"),
    ("missing required field", "admission", with_change(lambda e: e.pop("source_ods_code")),
     422, "invalid_event", "source_ods_code"),
    ("missing person", "admission", with_change(lambda e: e.pop("person")), 422,
     "invalid_event", "person"),
    ("unknown field", "admission", with_change(lambda e: e.update(bed_number="12")), 422,
     "invalid_event", "bed_number"),
    ("bad enum symbol", "admission", with_change(lambda e: e.update(event_type="ADMIT")), 422,
     "invalid_event", "event_type"),
    ("bad date", "admission",
     with_change(lambda e: e["person"].update(date_of_birth="1950-02-30")), 422,
     "invalid_event", "person.date_of_birth"),
    ("timestamp without offset", "admission",
     with_change(lambda e: e.update(occurred_at="2026-11-22T10:00:00")), 422, "invalid_event",
     "occurred_at"),
    ("bad uuid", "admission", with_change(lambda e: e.update(event_id="not-a-uuid")), 422,
     "invalid_event", "event_id"),
    ("bad supersedes uuid", "admission",
     with_change(lambda e: e.update(supersedes_event_id="ADM-0042")), 422, "invalid_event",
     "supersedes_event_id"),
    ("correction that also cancels", "admission",
     with_change(lambda e: e.update(supersedes_event_id="d5905a32-14ab-4579-96da-1b8f530a1f03",
                                    cancels_event_id="fa9fbee7-445a-46c5-80cf-1a7d1502c271")),
     422, "invalid_event", "supersedes_event_id"),
    ("version 1 event with a version 2 field", "admission",
     with_change(lambda e: e.update(schema_version=1,
                                    supersedes_event_id="d5905a32-14ab-4579-96da-1b8f530a1f03")),
     422, "invalid_event", "supersedes_event_id"),
    ("schema version the hub does not have", "admission",
     with_change(lambda e: e.update(schema_version=3)), 422, "invalid_event", "schema_version"),
    ("bad NHS number", "admission",
     with_change(lambda e: e["person"].update(
         nhs_number=events.invalid_nhs_number(random.Random(5)))), 422, "invalid_event",
     "person.nhs_number"),
    ("NHS number too short", "admission",
     with_change(lambda e: e["person"].update(nhs_number="99912345")), 422, "invalid_event",
     "person.nhs_number"),
    ("no person identifier", "admission",
     with_change(lambda e: e["person"].update(nhs_number=None, local_identifiers=[]))
     , 422, "invalid_event", "person"),
    ("unknown event type", "admissions", valid(), 404, "unknown_event_type", "type"),
    ("oversized body", "admission", json.dumps(dict(valid(), notes="x" * 8000)), 413,
     "body_too_large", None),
]


@pytest.mark.parametrize("name,event_type,body,status,code,field", CASES,
                         ids=[c[0] for c in CASES])
def test_rejected_and_nothing_produced(hub, broker, name, event_type, body, status, code,
                                       field):
    before = broker.end_offsets()
    answer = hub.post(event_type, body)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["code"] == code
    if field is not None:
        assert error.get("field") == field, error
        assert field in error["message"] or field == "type"
    assert broker.end_offsets() == before, "a rejected request must not reach Kafka"


def test_error_never_echoes_the_nhs_number(hub):
    bad = events.invalid_nhs_number(random.Random(9))
    event = with_change(lambda e: e["person"].update(nhs_number=bad))
    answer = hub.post("admission", event)
    assert answer.status_code == 422
    assert bad not in answer.text
    assert bad not in hub.ingest.output(), "the NHS number reached the log"


def test_wrong_content_type_is_refused(hub, broker):
    before = broker.end_offsets()
    answer = hub.post("admission", json.dumps(valid()), headers={"Content-Type": "text/plain"})
    assert answer.status_code == 415
    assert broker.end_offsets() == before


def test_valid_event_after_rejections_is_accepted(hub, broker):
    before = broker.end_offsets(["admission"])["admission"]
    answer = hub.post("admission", valid())
    assert answer.status_code == 202, answer.text
    assert broker.end_offsets(["admission"])["admission"] == before + 1
