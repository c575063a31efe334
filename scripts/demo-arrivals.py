#!/usr/bin/env python3
"""Prints what a simulated partner received, one line per request, for the
demo. Only ids and types: the events carry (invented) personal data, and a
screen is no place for it. Usage: demo-arrivals.py NAME URL"""
import json
import sys
import urllib.request

name, url = sys.argv[1], sys.argv[2]
with urllib.request.urlopen(url + "/_sim/requests", timeout=10) as answer:
    requests = json.load(answer)["requests"]
for request in requests:
    event = request.get("json") or {}
    topic = request["headers"].get("X-Placehub-Event-Type", "?")
    print(f"   {name:16} got {topic:19} {event.get('event_type', '?'):18} "
          f"event_id {event.get('event_id')}  answered {request['status']} "
          f"at {request['received_at']}")
