#!/usr/bin/env python3
"""Summarises the audit topic for the demo: one line per disclosure (the
delivery receipt: partner, event type, agreement, how many fields, whether a
pseudonym stood in for the NHS number) and per suppression (partner, event
type, reason, detail). Reads the records as JSON lines on stdin (Kafka's
console consumer). Field names and counts only: no values. With SINCE (an
ISO 8601 UTC time), only records written from then on: the dev broker keeps
earlier demos' records too.
Usage: ... | demo-audit.py [SINCE]"""
import json
import sys

since = sys.argv[1] if len(sys.argv) > 1 else ""
for line in sys.stdin:
    try:
        record = json.loads(line)
    except ValueError:
        continue
    if (record.get("completed_at") or record.get("at") or "") < since:
        continue
    kind = record.get("record")
    if kind == "delivery":
        pseudonymised = ", pseudonymised" if record.get("pseudonymised") else ""
        print(f"   disclosed  to  {record['partner']:16} {record['event_type']:19} "
              f"under {record.get('agreement')}: {len(record.get('fields', []))} fields"
              f"{pseudonymised} ({record['outcome']})")
    elif kind == "suppression":
        print(f"   suppressed for {record['partner']:16} {record['event_type']:19} "
              f"reason {record['reason']}: {record['detail']}")
