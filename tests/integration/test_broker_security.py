"""Broker security (issue 4, docs/security.md): placehub logs in to a broker
that demands SASL, with the password read from an environment variable or a
file, never from the configuration; a wrong password stops start-up at once
with the broker's reason.

The broker is the real one (scripts/kafka.sh with KAFKA_SASL_PLAIN_USERS):
SASL_PLAINTEXT with mechanism PLAIN. SCRAM and TLS (SASL_SSL, SSL) go
through the same code in lib/kafka/kafka.c but are checked only by the unit tests
(tests/unit/test_security.c), not against a broker."""
import os
import random
import subprocess
import time

import pytest

import events
from harness import BIN, Broker, Hub, new_api_key, publisher_yaml, wait_until, write_config

USERS = {"broker-admin": "admin-test-pw", "placehub": "hub-test-pw-7"}


@pytest.fixture(scope="module")
def broker():
    broker = Broker(sasl_plain_users=USERS).start()
    yield broker
    broker.destroy()


def sasl(password_key):
    return ("  security_protocol: SASL_PLAINTEXT\n  sasl_mechanism: PLAIN\n"
            f"  sasl_username: placehub\n  {password_key}\n")


def test_ingest_and_dispatch_through_sasl(broker):
    env = dict(os.environ, PLACEHUB_TEST_KAFKA_PASSWORD=USERS["placehub"])
    hub = Hub(broker, {"housing": ["admission"]},
              kafka_extra=sasl("sasl_password_env: PLACEHUB_TEST_KAFKA_PASSWORD"), env=env)
    try:
        body = events.make("admission", random.Random(11))
        answer = hub.post("admission", body)
        assert answer.status_code == 202, answer.text
        partner = hub.partners["housing"]
        delivered = wait_until(lambda: partner.delivered_events(), 60,
                               "the admission to reach the partner through the SASL broker")
        assert delivered[0]["event_id"] == answer.json()["event_id"]
        assert USERS["placehub"] not in "".join(hub.logs().values())
    finally:
        hub.stop()


def run_ingest(broker, tmp_path, kafka_extra, env=None):
    _, key_hash = new_api_key()
    config = tmp_path / "placehub.yaml"
    from harness import free_port
    write_config(str(config), broker, free_port(), free_port(), {}, "test-sasl",
                 publishers=publisher_yaml("test-publisher", key_hash), kafka_extra=kafka_extra)
    began = time.monotonic()
    result = subprocess.run([os.path.join(BIN, "placehub-ingest"), "-c", str(config)],
                            capture_output=True, text=True, timeout=120, env=env)
    return result, time.monotonic() - began


def test_wrong_password_stops_start_up_clearly(broker, tmp_path):
    secret = tmp_path / "kafka-password"
    secret.write_text("not-the-password\n")
    result, seconds = run_ingest(broker, tmp_path,
                                 sasl(f'sasl_password_file: "{secret}"'))
    assert result.returncode == 1
    assert "the broker refused placehub's credentials" in result.stderr, result.stderr
    assert "Authentication failed" in result.stderr or "authentication" in result.stderr.lower()
    assert "not-the-password" not in result.stderr
    # It says so as soon as the broker refused, not after the 30 s topic wait.
    assert seconds < 25, f"took {seconds:.1f} s"


def test_password_file_works(broker, tmp_path):
    """The right password from a file: ingest gets past topic creation and
    answers /healthz (then it is stopped)."""
    secret = tmp_path / "kafka-password"
    secret.write_text(USERS["placehub"] + "\n")
    env = dict(os.environ)
    hub = Hub(broker, {}, start_dispatch=False,
              kafka_extra=sasl(f'sasl_password_file: "{secret}"'), env=env)
    try:
        answer = hub.post("referral", events.make("referral", random.Random(3)))
        assert answer.status_code == 202, answer.text
    finally:
        hub.stop()


def test_missing_password_variable_is_named(broker, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PLACEHUB_UNSET_PASSWORD"}
    result, _ = run_ingest(broker, tmp_path, sasl("sasl_password_env: PLACEHUB_UNSET_PASSWORD"),
                           env=env)
    assert result.returncode == 1
    assert "kafka.sasl_password_env" in result.stderr
    assert "PLACEHUB_UNSET_PASSWORD" in result.stderr
