"""The embedded registry speaks the Confluent Schema Registry REST API well
enough that a standard client (confluent-kafka's AvroDeserializer, written by
no one here) decodes placehub's topics through it."""
import json
import os
import random
import uuid

import pytest
import requests
from confluent_kafka import DeserializingConsumer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import StringDeserializer

import events
from harness import REPO, TOPICS, Hub, wait_until

CATALOGUE = json.load(open(os.path.join(REPO, "schemas", "catalogue.json")))["schemas"]


@pytest.fixture(scope="module")
def hub(broker):
    hub = Hub(broker, {"housing": ["admission"]}, start_dispatch=False)
    yield hub
    hub.stop()


def test_rest_paths_serve_the_catalogue(hub):
    url = hub.registry_url
    subjects = requests.get(url + "/subjects").json()
    assert sorted(subjects) == sorted(f"{t}-value" for t in TOPICS)
    for entry in CATALOGUE:
        text = open(os.path.join(REPO, "schemas", entry["file"])).read()
        by_id = requests.get(f"{url}/schemas/ids/{entry['id']}")
        assert by_id.status_code == 200
        assert json.loads(by_id.json()["schema"]) == json.loads(text)
        version = requests.get(f"{url}/subjects/{entry['subject']}/versions/{entry['version']}")
        assert version.json()["id"] == entry["id"]
        latest = requests.get(f"{url}/subjects/{entry['subject']}/versions/latest").json()
        assert latest["subject"] == entry["subject"]
        lookup = requests.post(f"{url}/subjects/{entry['subject']}", json={"schema": text})
        assert lookup.status_code == 200 and lookup.json()["id"] == entry["id"]
        # "Registering" what is already there is idempotent and changes nothing.
        again = requests.post(f"{url}/subjects/{entry['subject']}/versions", json={"schema": text})
        assert again.status_code == 200 and again.json() == {"id": entry["id"]}


def test_registry_is_read_only_and_errors_are_confluent_shaped(hub):
    url = hub.registry_url
    new_schema = json.dumps({"type": "record", "name": "Other", "fields": []})
    refused = requests.post(f"{url}/subjects/admission-value/versions",
                            json={"schema": new_schema})
    assert refused.status_code == 422 and refused.json()["error_code"] == 42205
    assert requests.get(f"{url}/schemas/ids/999").json()["error_code"] == 40403
    assert requests.get(f"{url}/subjects/nope-value/versions").json()["error_code"] == 40401
    assert requests.get(f"{url}/subjects/admission-value/versions/9").json()["error_code"] == 40402


def test_confluent_deserializer_decodes_every_topic(hub, broker):
    rng = random.Random(23)
    sent = {}
    for event_type in TOPICS:
        event = events.make(event_type, rng)
        answer = hub.post(event_type, event)
        assert answer.status_code == 202, answer.text
        sent[answer.json()["event_id"]] = (event_type, event)
    # A sender still on version 1: its event is written with version 1's id.
    version_1 = events.make("admission", rng)
    version_1["schema_version"] = 1
    del version_1["supersedes_event_id"]
    answer = hub.post("admission", version_1)
    assert answer.status_code == 202, answer.text
    sent[answer.json()["event_id"]] = ("admission", version_1)

    client = SchemaRegistryClient({"url": hub.registry_url})
    consumer = DeserializingConsumer({
        "bootstrap.servers": broker.bootstrap,
        "group.id": "test-standard-tooling",
        "auto.offset.reset": "earliest",
        "key.deserializer": StringDeserializer("utf_8"),
        "value.deserializer": AvroDeserializer(client),
    })
    consumer.subscribe(TOPICS)
    decoded = {}
    try:
        def poll():
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                # fastavro honours the uuid logical type: event_id is a uuid.UUID.
                decoded[str(message.value()["event_id"])] = (message.topic(), message.value())
            return set(sent) <= set(decoded)
        wait_until(poll, 60, "the standard deserializer to read the four events", 0)
    finally:
        consumer.close()

    for event_id, (event_type, event) in sent.items():
        topic, value = decoded[event_id]
        assert topic == event_type
        assert value["person"]["nhs_number"] == event["person"]["nhs_number"]
        assert value["event_type"] == event["event_type"]
        # Logical types come through as such: uuid a UUID, timestamp-millis a datetime.
        assert isinstance(value["event_id"], uuid.UUID)
        assert value["occurred_at"].isoformat(timespec="milliseconds").replace(
            "+00:00", "Z") == event["occurred_at"]
        assert value["schema_version"] == event["schema_version"]
        assert ("supersedes_event_id" in value) == (event["schema_version"] >= 2)


def test_latest_versions_read_version_1_by_avro_resolution():
    """Backward compatibility checked by another implementation: fastavro
    reads version 1 data (the fuzz seeds, written by fastavro from
    tests/data) with each topic's latest schema as the reader, and the
    fields added since take their defaults."""
    import io
    import fastavro
    for topic in TOPICS:
        entries = [e for e in CATALOGUE if e["subject"] == f"{topic}-value"]
        first = min(entries, key=lambda e: e["version"])
        latest = max(entries, key=lambda e: e["version"])
        assert first["version"] == 1 and latest["version"] >= 2
        writer = json.load(open(os.path.join(REPO, "schemas", first["file"])))
        reader = json.load(open(os.path.join(REPO, "schemas", latest["file"])))
        with open(os.path.join(REPO, "tests", "fuzz", "corpus", "avro_decode", topic), "rb") as f:
            framed = f.read()
        assert framed[:5] == b"\0" + first["id"].to_bytes(4, "big")
        record = fastavro.schemaless_reader(io.BytesIO(framed[5:]),
                                            fastavro.parse_schema(writer),
                                            fastavro.parse_schema(reader))
        example = json.load(open(os.path.join(REPO, "tests", "data", f"{topic}.json")))
        assert record["supersedes_event_id"] is None
        assert str(record["event_id"]) == example["event_id"]
        assert record["event_type"] == example["event_type"]


def test_external_registry_mode_end_to_end(make_hub):
    """schema_registry.mode external: ingest looks its schema's id up over REST
    (POST /subjects/{subject}) and dispatch fetches writer schemas by id
    (GET /schemas/ids/{id}). Pointed at placehub-registry, which answers both,
    the client code runs for real and events still arrive intact."""
    hub = make_hub({"housing": ["admission", "discharge"]}, registry_mode="external")
    rng = random.Random(29)
    sent = {}
    for event_type in ("admission", "discharge"):
        event = events.make(event_type, rng)
        answer = hub.post(event_type, event)
        assert answer.status_code == 202, answer.text
        sent[answer.json()["event_id"]] = event
    partner = hub.partners["housing"]
    wait_until(lambda: set(sent) <= {e["event_id"] for e in partner.delivered_events()}, 60,
               "both events delivered through the external-registry path")
    for received in partner.delivered_events():
        if received["event_id"] in sent:
            for field, value in sent[received["event_id"]].items():
                assert received[field] == value, field


def test_external_registry_down_gives_503_and_nothing_produced(make_hub, broker):
    """In external mode, a registry that cannot be reached makes ingest answer
    503 (try later), not accept an event it cannot label with a schema id."""
    hub = make_hub({"housing": ["admission"]}, registry_mode="external", start_dispatch=False)
    hub.registry.stop()
    before = broker.end_offsets()
    answer = hub.post("admission", events.admission(random.Random(31)))
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"]["code"] == "schema_registry_unavailable"
    assert broker.end_offsets() == before


def test_dispatch_waits_for_an_unreachable_registry_and_dead_letters_nothing(make_hub, broker):
    """Dispatch fetches a writer schema the first time it meets its id. A
    registry that does not answer then says nothing about the event: the
    event waits and is decoded once the registry is back, rather than being
    dead-lettered as unreadable (which would keep it from the partner)."""
    hub = make_hub({"housing": ["admission"]}, registry_mode="external", start_dispatch=False)
    rng = random.Random(37)
    sent = {}
    for _ in range(3):
        answer = hub.post("admission", events.admission(rng))
        assert answer.status_code == 202, answer.text
        sent[answer.json()["event_id"]] = answer
    hub.registry.stop()
    dispatch = hub.start_dispatch()
    wait_until(lambda: "events wait for the schema registry" in dispatch.output(), 60,
               "dispatch to say that events wait for the schema registry")
    wait_until(lambda: "schema registry still not answering partner=housing attempts=3"
               in dispatch.output(), 60, "dispatch to ask the absent registry twice more")
    partner = hub.partners["housing"]
    assert partner.count() == 0, "nothing decoded, nothing sent, while the registry is away"
    assert broker.read_topic(hub.dead_letter_topic) == [], "nothing dead-lettered for an outage"
    assert "unreadable" not in dispatch.output()

    hub.registry = hub.start_program("registry")
    wait_until(lambda: set(sent) <= {e["event_id"] for e in partner.delivered_events()}, 60,
               "the waiting events to be delivered once the registry answers")
    delivered = [e["event_id"] for e in partner.delivered_events()]
    assert all(delivered.count(event_id) == 1 for event_id in sent), "each event delivered once"
    assert "schema registry answers again partner=housing" in dispatch.output()
    assert broker.read_topic(hub.dead_letter_topic) == []
