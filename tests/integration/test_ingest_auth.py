"""Who may publish (issue 4, docs/security.md): each partner authenticates
with its API key and may publish only the event types its ingest: section
allows, only as the organisations it lists, within its rate limit. Every
rejection names the field at fault, every answer carries X-Request-Id, and
nothing reaches Kafka for a rejected request."""
import hashlib
import os
import random
import re
import subprocess

import pytest
import requests

import events
from harness import BIN, REPO, TOPICS, Hub, free_port

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def mint_key():
    """A key and its hash from placehub-ingest --new-api-key itself."""
    result = subprocess.run([os.path.join(BIN, "placehub-ingest"), "--new-api-key"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    key, key_hash = result.stdout.splitlines()
    return key, key_hash


@pytest.fixture(scope="module")
def minted(tmp_path_factory):
    key, key_hash = mint_key()
    path = tmp_path_factory.mktemp("keys") / "hospital-pas.hashes"
    path.write_text(f"# hospital PAS, issued for the test\n{key_hash}\n")
    return key, str(path)


@pytest.fixture(scope="module")
def hub(broker, minted):
    # Batches may be no larger than one event here, so httpd itself answers
    # 413 to an oversized body before anyone is authenticated.
    hub = Hub(broker, {}, start_dispatch=False, ingest_extra="  max_batch_bytes: 65536\n",
              publishers={
        "gp-federation": {"publishes": ["referral", "employment-support"],
                          "source_ods_codes": ["P99001"]},
        "hospital": {"publishes": ["admission", "discharge"], "source_ods_codes": ["RXX"],
                     "hashes_file": minted[1], "key": minted[0]},
        "throttled": {"publishes": ["referral"], "source_ods_codes": ["U99001"],
                      "rate_limit": {"events_per_second": 1, "burst": 2}},
    })
    yield hub
    hub.stop()


def event(event_type, source, seed=1):
    body = events.make(event_type, random.Random(seed))
    body["source_ods_code"] = source
    return body


def refused(hub, broker, event_type, body, status, code, field, **kwargs):
    """Posts, checks the error, and that no topic grew. Returns the answer."""
    before = broker.end_offsets()
    answer = hub.post(event_type, body, **kwargs)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["code"] == code, error
    assert error.get("field") == field, error
    assert UUID.match(answer.headers["X-Request-Id"]), answer.headers
    assert broker.end_offsets() == before, "a rejected request must not reach Kafka"
    return answer


def test_own_events_are_accepted(hub, broker):
    before = broker.end_offsets()
    answer = hub.post("referral", event("referral", "P99001"), key=hub.keys["gp-federation"])
    assert answer.status_code == 202, answer.text
    answer = hub.post("admission", event("admission", "RXX"), key=hub.keys["hospital"])
    assert answer.status_code == 202, answer.text
    after = broker.end_offsets()
    assert after["referral"] == before["referral"] + 1
    assert after["admission"] == before["admission"] + 1


def test_minted_key_with_hash_in_a_file(hub, minted):
    key, path = minted
    assert key.startswith("phk_") and len(key) == 47
    assert open(path).read().count("sha256:" + hashlib.sha256(key.encode()).hexdigest()) == 1
    answer = hub.post("discharge", event("discharge", "RXX"), key=key)
    assert answer.status_code == 202, answer.text
    # The key may also come in X-API-Key.
    answer = hub.post("discharge", event("discharge", "RXX", 2), key=None,
                      headers={"X-API-Key": key})
    assert answer.status_code == 202, answer.text


def test_no_credentials_401(hub, broker):
    answer = refused(hub, broker, "referral", event("referral", "P99001"), 401,
                     "unauthenticated", "Authorization", key=None)
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="placehub-ingest"'


def test_wrong_key_401_reveals_nothing(hub, broker):
    # A key never issued, and a real key with one character changed: the
    # same answer, so a caller learns nothing about which partners exist.
    real = hub.keys["gp-federation"]
    tampered = real[:-1] + ("A" if real[-1] != "A" else "B")
    answers = [refused(hub, broker, "referral", event("referral", "P99001"), 401,
                       "invalid_credentials", "Authorization", key=key)
               for key in ("phk_" + "x" * 43, tampered)]
    assert answers[0].json() == answers[1].json()
    for answer in answers:
        assert answer.headers["WWW-Authenticate"] == \
            'Bearer realm="placehub-ingest", error="invalid_token"'
    # The hash is not the key.
    refused(hub, broker, "referral", event("referral", "P99001"), 401, "invalid_credentials",
            "X-API-Key", key=None,
            headers={"X-API-Key": "sha256:" + hashlib.sha256(real.encode()).hexdigest()})
    # Another scheme than Bearer is refused, not guessed at.
    refused(hub, broker, "referral", event("referral", "P99001"), 401, "invalid_credentials",
            "Authorization", key=None, headers={"Authorization": "Basic " + real})


def test_event_type_not_allowed_403(hub, broker):
    answer = refused(hub, broker, "admission", event("admission", "P99001"), 403,
                     "event_type_not_allowed", "type", key=hub.keys["gp-federation"])
    assert "admission" in answer.json()["error"]["message"]


def test_cannot_publish_as_another_partner_403(hub, broker):
    # The GP federation names the hospital's organisation: refused, although
    # the key, the type and the event are all valid.
    answer = refused(hub, broker, "referral", event("referral", "RXX"), 403,
                     "source_not_allowed", "source_ods_code", key=hub.keys["gp-federation"])
    assert "source_ods_code" in answer.json()["error"]["message"]
    # And the hospital cannot send as the GP federation.
    refused(hub, broker, "admission", event("admission", "P99001"), 403, "source_not_allowed",
            "source_ods_code", key=hub.keys["hospital"])


def test_rate_limit_429_with_retry_after(hub, broker):
    """1 event a second, bursts of 2: requests sent back to back run out of
    tokens. Whatever the timing, every 202 added exactly one event and no
    429 added any."""
    key = hub.keys["throttled"]
    before = broker.end_offsets(["referral"])["referral"]
    statuses, limited = [], None
    for seed in range(20):
        answer = hub.post("referral", event("referral", "U99001", seed), key=key)
        statuses.append(answer.status_code)
        if answer.status_code == 429:
            limited = answer
            break
        assert answer.status_code == 202, answer.text
    assert limited is not None, f"no 429 in {statuses}"
    assert statuses.count(202) >= 2, "the burst of 2 must be allowed first"
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.json()["error"]["code"] == "rate_limited"
    assert UUID.match(limited.headers["X-Request-Id"])
    after = broker.end_offsets(["referral"])["referral"]
    assert after - before == statuses.count(202)
    # Each partner has its own bucket: the GP federation is not held back.
    answer = hub.post("referral", event("referral", "P99001", 99), key=hub.keys["gp-federation"])
    assert answer.status_code == 202, answer.text


def test_request_id(hub, broker):
    key = hub.keys["gp-federation"]
    mine = "gp-system.request-42_a"
    answer = hub.post("referral", event("referral", "P99001", 7), key=key,
                      headers={"X-Request-Id": mine})
    assert answer.status_code == 202
    assert answer.headers["X-Request-Id"] == mine
    # Unsafe or overlong ids are replaced, never echoed.
    for bad in ("two words", "x" * 65, "<script>"):
        answer = hub.post("referral", "{", key=key, headers={"X-Request-Id": bad})
        assert answer.status_code == 400
        assert UUID.match(answer.headers["X-Request-Id"]), answer.headers
    # Different requests, different ids.
    ids = {hub.post("referral", "{", key=key).headers["X-Request-Id"] for _ in range(3)}
    assert len(ids) == 3
    # httpd's own 413 has one, and a rejection is logged under the id.
    answer = hub.post("referral", "x" * 70000, key=None, headers={"X-Request-Id": "big-1"})
    assert answer.status_code == 413
    assert answer.headers["X-Request-Id"] == "big-1"
    hub.post("referral", event("referral", "RXX"), key=key, headers={"X-Request-Id": "as-rxx-1"})
    log = hub.ingest.output()
    line = next(l for l in log.splitlines() if "request_id=as-rxx-1" in l)
    assert "partner=gp-federation" in line and "status=403" in line


def test_logs_hold_no_keys(hub):
    log = hub.ingest.output()
    for key in hub.keys.values():
        assert key not in log
        assert key[4:] not in log


def test_operational_endpoint_needs_no_key(hub):
    assert requests.get(hub.ingest_url + "/healthz", timeout=10).status_code == 200


def write_minimal(path, broker, extra):
    topics = "".join(f"  - name: {t}\n" for t in TOPICS)
    path.write_text(f"""kafka:
  bootstrap_servers: "{broker.bootstrap}"
schema_registry:
  mode: embedded
  schemas_dir: "{os.path.join(REPO, 'schemas')}"
topics:
{topics}ingest:
  listen: "127.0.0.1:{free_port()}"
{extra}""")


def test_no_publisher_refuses_to_start(broker, tmp_path):
    config = tmp_path / "placehub.yaml"
    write_minimal(config, broker, "")
    result = subprocess.run([os.path.join(BIN, "placehub-ingest"), "-c", str(config)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "no partner may publish" in result.stderr
    assert "insecure_no_authentication" in result.stderr


def test_missing_hashes_file_refuses_to_start(broker, tmp_path):
    config = tmp_path / "placehub.yaml"
    write_minimal(config, broker, """partners:
  - id: gp
    ingest:
      api_key_hashes_file: "gp.hashes"
      publishes: [referral]
      source_ods_codes: [P99001]
""")
    result = subprocess.run([os.path.join(BIN, "placehub-ingest"), "-c", str(config)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"{config}:" in result.stderr
    assert "partner gp: api_key_hashes_file" in result.stderr
    assert "No such file" in result.stderr


def test_development_switch_is_loud(broker, make_hub):
    hub = make_hub({}, start_dispatch=False, publishers={},
                   ingest_extra="  insecure_no_authentication: true\n")
    answer = hub.post("referral", event("referral", "P99001"), key=None)
    assert answer.status_code == 202, answer.text
    assert "DEVELOPMENT ONLY: ingest.insecure_no_authentication is true" in hub.ingest.output()
