#!/usr/bin/env python3
"""Prints what a simulated partner received, one line per request, for the
demo, and the names of the fields it got beyond the envelope (what its
data-sharing agreement let through). Only ids, types and field names: the
events carry (invented) personal data, and a screen is no place for it.
Usage: demo-arrivals.py NAME URL"""
import json
import sys
import textwrap
import urllib.request

name, url = sys.argv[1], sys.argv[2]
with urllib.request.urlopen(url + "/_sim/requests", timeout=10) as answer:
    requests = json.load(answer)["requests"]
# Every recipient gets these (docs/governance.md); the rest is the agreement's.
ENVELOPE = {"event_id", "event_type", "schema_version", "occurred_at", "recorded_at",
            "source_ods_code", "correlation_id", "cancels_event_id", "supersedes_event_id",
            "sharing"}


def names(value, path=""):
    """Field paths holding a value, without the values."""
    if isinstance(value, dict):
        return [n for k, v in value.items() for n in names(v, f"{path}.{k}" if path else k)]
    if isinstance(value, list):
        found = [n for item in value if isinstance(item, dict) for n in names(item, path)]
        return found or ([path] if value else [])
    return [] if value is None else [path]


for request in requests:
    event = request.get("json") or {}
    topic = request["headers"].get("X-Placehub-Event-Type", "?")
    print(f"   {name:16} got {topic:19} {event.get('event_type', '?'):18} "
          f"event_id {event.get('event_id')}  answered {request['status']} "
          f"at {request['received_at']}")
    fields = sorted({n for n in names(event) if n.split(".")[0] not in ENVELOPE})
    print(textwrap.fill(", ".join(fields) or "(the envelope only)", width=100,
                        initial_indent=" " * 24 + "fields: ", subsequent_indent=" " * 32))
