"""Writes Confluent-framed Avro seeds for fuzz_avro_decode from tests/data/,
encoded by fastavro (not placehub's own codec, so the seeds are independent).
Run with the test venv: .cache/venv/bin/python tests/fuzz/make_avro_corpus.py"""
import datetime
import io
import json
import os
import struct

import fastavro

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def to_datum(schema, value, named):
    """Plain JSON (docs/schemas.md) to the datum fastavro writes."""
    if isinstance(schema, list):  # ["null", T]
        return None if value is None else to_datum(schema[1], value, named)
    if isinstance(schema, str):
        schema = named.get(schema, schema)
        if isinstance(schema, str):
            return value
    kind, logical = schema["type"], schema.get("logicalType")
    if "name" in schema:
        named[schema["name"]] = schema
        if "namespace" in schema:
            named[schema["namespace"] + "." + schema["name"]] = schema
    if logical == "timestamp-millis":
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if logical == "date":
        return datetime.date.fromisoformat(value)
    if kind == "record":
        return {f["name"]: to_datum(f["type"], value.get(f["name"], f.get("default")), named)
                for f in schema["fields"]}
    if kind == "array":
        return [to_datum(schema["items"], item, named) for item in value]
    return value


catalogue = json.load(open(os.path.join(REPO, "schemas", "catalogue.json")))["schemas"]
out_dir = os.path.join(REPO, "tests", "fuzz", "corpus", "avro_decode")
os.makedirs(out_dir, exist_ok=True)
for entry in catalogue:
    # One seed per schema id, from that version's example (tests/data/<topic>.json
    # for version 1, <topic>.vN.json after): a version 1 seed keeps its name.
    topic = entry["subject"][:-len("-value")]
    suffix = "" if entry["version"] == 1 else f".v{entry['version']}"
    schema = json.load(open(os.path.join(REPO, "schemas", entry["file"])))
    event = json.load(open(os.path.join(REPO, "tests", "data", f"{topic}{suffix}.json")))
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(schema),
                               to_datum(schema, event, {}))
    with open(os.path.join(out_dir, topic + suffix), "wb") as f:
        f.write(b"\0" + struct.pack(">I", entry["id"]) + buffer.getvalue())
print(f"wrote {len(catalogue)} seeds to {out_dir}")
