"""The partner control and state API on dispatch's operations listener, on a
real broker (docs/operations.md, "Partner controls"): a paused partner gets
nothing while another does and its lag grows, then everything once resumed;
an open circuit is probed at once on request, long before its open period
ends; GET /partners shows why a partner fails; every action is an audit
record; and the access rules (token, actor, loopback, Origin, methods)."""
import json
import random
import socket
import time

import requests

import events
from harness import free_port, wait_until

TOKEN = "partner-control-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def control_hub(make_hub, tmp_path, partners, token=True, listen_host="127.0.0.1", **kwargs):
    port = free_port()
    extra = f"operations:\n  dispatch_listen: \"{listen_host}:{port}\"\n"
    if token:
        token_file = tmp_path / "operations.token"
        token_file.write_text(TOKEN + "\n")
        extra += f"  token_file: \"{token_file}\"\n"
    hub = make_hub(partners, extra_config=extra, **kwargs)
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: requests.get(url + "/readyz", timeout=2).status_code == 200, 60,
               "dispatch ready")
    return hub, url, port


def caught_up(hub, broker, partner_id, topics):
    ends = broker.end_offsets(topics)
    wait_until(lambda: broker.committed(hub.group(partner_id), topics) == ends, 60,
               f"{partner_id} to catch up with earlier tests' events")


def get(url, path, headers=AUTH):
    answer = requests.get(url + path, headers=headers, timeout=10)
    assert answer.headers["Content-Type"] == "application/json", answer.text
    return answer


def post(url, path, actor="alice@council.example", headers=AUTH):
    sent = dict(headers)
    if actor is not None:
        sent["X-Placehub-Actor"] = actor
    return requests.post(url + path, headers=sent, timeout=30)


def partner_state(url, partner_id):
    answer = get(url, f"/partners/{partner_id}")
    assert answer.status_code == 200, answer.text
    return answer.json()


def post_events(hub, count, seed):
    rng = random.Random(seed)
    ids = []
    for _ in range(count):
        answer = hub.post("admission", events.make("admission", rng))
        assert answer.status_code == 202, answer.text
        ids.append(answer.json()["event_id"])
    return ids


def received(partner, ids):
    return {e["event_id"] for e in partner.delivered_events()} & set(ids)


def control_records(broker, hub):
    return [record for record in (json.loads(value) for _, value, _ in
                                  broker.read_topic(hub.audit_topic))
            if record.get("record") == "partner_control"]


def paused_gauge(url, partner_id):
    text = requests.get(url + "/metrics", headers=AUTH, timeout=10).text
    line = f'placehub_dispatch_partner_paused{{partner="{partner_id}"}} '
    values = [row[len(line):] for row in text.splitlines() if row.startswith(line)]
    return float(values[0]) if values else None


def test_pause_holds_one_partner_back_and_resume_loses_nothing(make_hub, broker, tmp_path):
    hub, url, _ = control_hub(make_hub, tmp_path,
                              {"housing": ["admission"], "gp": ["admission"]})
    for partner_id in ("housing", "gp"):
        caught_up(hub, broker, partner_id, ["admission"])
    listed = get(url, "/partners").json()["partners"]
    assert sorted(p["id"] for p in listed) == ["gp", "housing"]
    for partner in listed:
        assert partner["state"] == "delivering" and partner["paused"] is False
        assert partner["retrying"] == [] and partner["retrying_total"] == 0
    assert paused_gauge(url, "housing") == 0

    answer = post(url, "/partners/housing/pause")
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == "paused" and answer.json()["paused"] is True
    assert paused_gauge(url, "housing") == 1
    committed_before = broker.committed(hub.group("housing"), ["admission"])["admission"]

    ids = post_events(hub, 10, 7101)
    wait_until(lambda: received(hub.partners["gp"], ids) == set(ids), 60,
               "gp, not paused, gets every event")
    ends = broker.end_offsets(["admission"])["admission"]
    assert received(hub.partners["housing"], ids) == set()
    # Its lag grows in Kafka: nothing of these is committed for housing.
    assert broker.committed(hub.group("housing"), ["admission"])["admission"] == committed_before
    assert ends - committed_before >= 10
    state = partner_state(url, "housing")
    assert state["state"] == "paused" and state["in_flight"] == 0

    answer = post(url, "/partners/housing/resume", actor="bob.ops")
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == "delivering" and answer.json()["paused"] is False
    wait_until(lambda: received(hub.partners["housing"], ids) == set(ids), 60,
               "housing gets every event once resumed")
    wait_until(lambda: broker.committed(hub.group("housing"), ["admission"])["admission"]
               == ends, 60, "housing's offsets caught up")
    assert paused_gauge(url, "housing") == 0

    records = control_records(broker, hub)
    assert [(r["partner"], r["action"], r["actor"]) for r in records] == \
        [("housing", "pause", "alice@council.example"), ("housing", "resume", "bob.ops")]
    assert all(r["at"].endswith("Z") for r in records)
    assert "partner control partner=housing action=pause actor=alice@council.example" in \
        hub.dispatch.output()


def test_probe_closes_an_open_circuit_at_once(make_hub, broker, tmp_path):
    hub, url, _ = control_hub(make_hub, tmp_path, {"housing": ["admission"]},
                              dispatch_settings={"breaker_failures": 2,
                                                 "breaker_open_ms": 60000,
                                                 "breaker_open_max_ms": 120000})
    caught_up(hub, broker, "housing", ["admission"])
    answer = post(url, "/partners/housing/probe")
    assert answer.status_code == 409, answer.text
    assert "not open" in answer.json()["error"]

    partner = hub.partners["housing"]
    partner.behave(status=503)
    ids = post_events(hub, 3, 7102)

    def failing():
        state = partner_state(url, "housing")
        return state if state["state"] == "circuit_open" and state["retrying"] else None

    state = wait_until(failing, 30, "the circuit open, with retrying events")
    assert state["last_error"] == "HTTP 503" and state["last_error_at"].endswith("Z")
    assert state["circuit_open_since"].endswith("Z")
    assert state["retrying_total"] == len(state["retrying"]) >= 1
    for entry in state["retrying"]:
        assert entry["event_id"] in ids and entry["topic"] == "admission"
        assert entry["attempt"] >= 1 and entry["last_error"] == "HTTP 503"
        assert isinstance(entry["partition"], int) and isinstance(entry["offset"], int)
        assert entry["next_attempt_at"].endswith("Z")
    # Nothing but the status line: no partner answer, no personal data.
    assert set(state) == {"id", "state", "paused", "circuit_open_since", "last_error",
                          "last_error_at", "in_flight", "retrying", "retrying_total"}

    partner.behave(status=200)
    started = time.monotonic()
    answer = post(url, "/partners/housing/probe", actor="carol")
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] in ("half_open", "delivering")
    wait_until(lambda: received(partner, ids) == set(ids), 30, "delivered after the probe")
    took = time.monotonic() - started
    assert took < 20, f"{took:.1f} s after the probe: it did not go at once (open period 60 s)"
    state = wait_until(lambda: (lambda s: s if s["state"] == "delivering" else None)(
        partner_state(url, "housing")), 10, "the circuit closed")
    assert state["circuit_open_since"] is None and state["retrying"] == []
    assert state["last_error"] == "HTTP 503"  # kept, with its time, as the last one seen

    answer = post(url, "/partners/housing/probe")
    assert answer.status_code == 409 and "not open" in answer.json()["error"]
    records = control_records(broker, hub)
    assert [(r["action"], r["actor"]) for r in records] == [("probe", "carol")], \
        "a refused probe is not recorded"


def test_access_rules_and_errors(make_hub, broker, tmp_path):
    hub, url, port = control_hub(make_hub, tmp_path, {"housing": ["admission"]})
    assert requests.get(url + "/partners", timeout=10).status_code == 401
    answer = post(url, "/partners/housing/pause", headers={})
    assert answer.status_code == 401 and "token" in answer.json()["error"]
    # The token in the URL does for /metrics, not for a change.
    answer = requests.post(url + f"/partners/housing/pause?token={TOKEN}", timeout=10,
                           headers={"X-Placehub-Actor": "alice"})
    assert answer.status_code == 401

    for actor in ("Jo Bloggs", "x" * 65, "", "jo;drop"):
        answer = post(url, "/partners/housing/pause", actor=actor)
        assert answer.status_code == 400, (actor, answer.text)
        assert "X-Placehub-Actor" in answer.json()["error"]
    answer = get(url, "/partners/nobody")
    assert answer.status_code == 404
    assert answer.json() == {"error": "no partner 'nobody' in this dispatch"}
    assert post(url, "/partners/nobody/pause").json() == \
        {"error": "no partner 'nobody' in this dispatch"}
    assert post(url, "/partners/housing/restart").status_code == 404
    assert get(url, "/partners/housing/pause").status_code == 405
    assert post(url, "/partners").status_code == 405
    answer = requests.put(url + "/partners/housing/pause", headers=AUTH, timeout=10)
    assert answer.status_code == 405 and "POST" in answer.headers["Allow"]
    answer = post(url, "/partners/housing/pause",
                  headers={**AUTH, "Origin": "https://evil.example"})
    assert answer.status_code == 403
    # Our own origin (the console served from this listener) may.
    answer = post(url, "/partners/housing/pause",
                  headers={**AUTH, "Origin": f"http://127.0.0.1:{port}"})
    assert answer.status_code == 200
    # No actor named: "unknown".
    assert post(url, "/partners/housing/resume", actor=None).status_code == 200
    assert [(r["action"], r["actor"]) for r in control_records(broker, hub)] == \
        [("pause", "alice@council.example"), ("resume", "unknown")]


def outward_address():
    """This machine's address on its default route, or None (no network)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_without_a_token_changes_only_from_loopback(make_hub, broker, tmp_path):
    hub, url, port = control_hub(make_hub, tmp_path, {"housing": ["admission"]}, token=False,
                                 listen_host="0.0.0.0")
    assert get(url, "/partners", headers={}).status_code == 200
    answer = post(url, "/partners/housing/pause", headers={})
    assert answer.status_code == 200 and answer.json()["paused"] is True
    address = outward_address()
    if address:
        answer = requests.post(f"http://{address}:{port}/partners/housing/resume", timeout=10,
                               headers={"X-Placehub-Actor": "mallory"})
        assert answer.status_code == 403, answer.text
        assert "loopback" in answer.json()["error"]
        assert partner_state(url, "housing")["paused"] is True
    assert post(url, "/partners/housing/resume", headers={}).status_code == 200


def rfc3339_seconds(text):
    """Seconds since the epoch of "YYYY-MM-DDTHH:MM:SS.mmmZ"."""
    import datetime
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def test_pause_lets_in_flight_settle_and_holds_retries(make_hub, broker, tmp_path):
    hub, url, _ = control_hub(make_hub, tmp_path, {"housing": ["admission"]},
                              dispatch_settings={"breaker_failures": 1000})
    caught_up(hub, broker, "housing", ["admission"])
    partner = hub.partners["housing"]

    # An attempt in flight when the pause comes finishes, and its offset is
    # stored: a pause settles what it can, and stores nothing else.
    partner.behave(status=200, delay_ms=3000)
    [first] = post_events(hub, 1, 7103)
    wait_until(lambda: partner_state(url, "housing")["in_flight"] == 1, 30, "an attempt in flight")
    answer = post(url, "/partners/housing/pause")
    assert answer.status_code == 200 and answer.json()["in_flight"] == 1
    ends = broker.end_offsets(["admission"])["admission"]
    wait_until(lambda: received(partner, [first]) == {first}, 30, "the in-flight one delivered")
    wait_until(lambda: broker.committed(hub.group("housing"), ["admission"])["admission"] == ends,
               30, "its offset stored while paused")
    assert post(url, "/partners/housing/resume").status_code == 200

    # A retry that comes due while paused does not go.
    partner.behave(status=503)
    [second] = post_events(hub, 1, 7104)
    wait_until(lambda: partner_state(url, "housing")["retrying"], 30, "a retrying event")
    assert post(url, "/partners/housing/pause").status_code == 200
    state = wait_until(lambda: (lambda s: s if s["in_flight"] == 0 else None)(
        partner_state(url, "housing")), 30, "nothing in flight")
    [retrying] = state["retrying"]
    assert retrying["event_id"] == second
    requests_before = partner.count()
    # Absence takes time to show: wait until the retry was due (by
    # dispatch's own account) and then some, with the backoff capped at 1 s.
    due = rfc3339_seconds(retrying["next_attempt_at"]) + 1.5
    wait_until(lambda: time.time() > due, 30, "the retry's time passed")
    assert partner.count() == requests_before, "a retry went out while paused"
    assert partner_state(url, "housing")["retrying"][0]["attempt"] == retrying["attempt"]

    partner.behave(status=200)
    assert post(url, "/partners/housing/resume").status_code == 200
    wait_until(lambda: received(partner, [second]) == {second}, 30, "delivered once resumed")
