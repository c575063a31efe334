"""Authentication on the simulated partner (placehub-partner-sim): the OAuth2
token endpoint (client credentials grant) and --require-auth, which the tests
of placehub's own side (tests/unit/test_auth.c, lib/delivery/auth.c) and of delivery
rely on. No Kafka needed: each test starts its own simulator on a free port.
"""
import base64
import os
import shutil
import subprocess
import tempfile
import time
from urllib.parse import quote

import pytest
import requests

from harness import BIN, Process, free_port, wait_until

CLIENT_ID = "placehub"
CLIENT_SECRET = "s3:cret &=%+"
SIM = os.path.join(BIN, "placehub-partner-sim")


class Simulator:
    """placehub-partner-sim with extra arguments, stopped by the fixture."""

    def __init__(self, workdir, *arguments):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = Process(f"partner-sim-{self.port}",
                               [SIM, "--listen", f"127.0.0.1:{self.port}", *arguments], workdir)
        wait_until(self.ready, 20, f"placehub-partner-sim on {self.url}")

    def ready(self):
        if not self.process.alive():
            raise AssertionError(f"placehub-partner-sim exited:\n{self.process.output()}")
        try:
            return requests.get(self.url + "/_sim/healthz", timeout=1).status_code == 200
        except requests.ConnectionError:
            return False

    def token_request(self, form, basic=None, **kwargs):
        headers = {}
        if basic:
            # RFC 6749 section 2.3.1: each part form-urlencoded, then base64.
            pair = f"{quote(basic[0], safe='')}:{quote(basic[1], safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        return requests.post(self.url + "/_sim/oauth/token", data=form, headers=headers,
                             timeout=10, **kwargs)

    def token(self):
        answer = self.token_request({"grant_type": "client_credentials"},
                                    basic=(CLIENT_ID, CLIENT_SECRET))
        assert answer.status_code == 200, answer.text
        return answer.json()["access_token"]

    def stats(self):
        return requests.get(self.url + "/_sim/stats", timeout=10).json()

    def send(self, headers=None):
        return requests.post(self.url + "/placehub/events", json={"event": "admission"},
                             headers=headers or {}, timeout=10)


@pytest.fixture
def simulator():
    workdir = tempfile.mkdtemp(prefix="placehub-auth-")
    started = []

    def start(*arguments):
        sim = Simulator(workdir, *arguments)
        started.append(sim)
        return sim

    yield start
    codes = [sim.process.stop() for sim in started]
    assert codes == [0] * len(codes), "a simulator did not stop cleanly"
    shutil.rmtree(workdir, ignore_errors=True)


def test_token_issued_to_a_client_by_basic_or_form(simulator):
    sim = simulator("--oauth-client", f"{CLIENT_ID}:{CLIENT_SECRET}", "--oauth-ttl", "120")
    answer = sim.token_request({"grant_type": "client_credentials", "scope": "events.write"},
                               basic=(CLIENT_ID, CLIENT_SECRET))
    assert answer.status_code == 200, answer.text
    assert answer.headers["Cache-Control"] == "no-store"
    token = answer.json()
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 120
    assert token["scope"] == "events.write"
    assert token["access_token"].startswith("sim-")

    answer = sim.token_request({"grant_type": "client_credentials", "client_id": CLIENT_ID,
                                "client_secret": CLIENT_SECRET})
    assert answer.status_code == 200, answer.text
    assert answer.json()["access_token"] != token["access_token"]
    assert sim.stats()["tokens_issued"] == 2
    # Token requests are control traffic: not recorded as partner requests.
    assert sim.stats()["recorded"] == 0


def test_token_refused(simulator):
    sim = simulator("--oauth-client", f"{CLIENT_ID}:{CLIENT_SECRET}")
    wrong = sim.token_request({"grant_type": "client_credentials"},
                              basic=(CLIENT_ID, "not-the-secret"))
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"
    assert wrong.headers["WWW-Authenticate"].startswith("Basic ")
    unknown = sim.token_request({"grant_type": "client_credentials", "client_id": "someone",
                                 "client_secret": CLIENT_SECRET})
    assert unknown.status_code == 401
    anonymous = sim.token_request({"grant_type": "client_credentials"})
    assert anonymous.status_code == 401

    grant = sim.token_request({"grant_type": "password"}, basic=(CLIENT_ID, CLIENT_SECRET))
    assert (grant.status_code, grant.json()["error"]) == (400, "unsupported_grant_type")
    missing = sim.token_request({}, basic=(CLIENT_ID, CLIENT_SECRET))
    assert (missing.status_code, missing.json()["error"]) == (400, "invalid_request")
    twice = sim.token_request({"grant_type": "client_credentials", "client_secret": CLIENT_SECRET},
                              basic=(CLIENT_ID, CLIENT_SECRET))
    assert (twice.status_code, twice.json()["error"]) == (400, "invalid_request")

    stats = sim.stats()
    assert stats["tokens_issued"] == 0
    assert stats["token_requests_refused"] == 6
    # DELETE /_sim/requests zeroes these counts with the others.
    requests.delete(sim.url + "/_sim/requests", timeout=10).raise_for_status()
    assert sim.stats()["token_requests_refused"] == 0


def test_token_endpoint_off_by_default(simulator):
    sim = simulator()
    answer = sim.token_request({"grant_type": "client_credentials"},
                               basic=(CLIENT_ID, CLIENT_SECRET))
    assert answer.status_code == 404
    assert "--oauth-client" in answer.json()["error"]["message"]
    # Without --require-auth partner requests need nothing, as before.
    assert sim.send().status_code == 200


def test_require_auth(simulator):
    sim = simulator("--oauth-client", f"{CLIENT_ID}:{CLIENT_SECRET}", "--require-auth",
                    "--api-key", "key-123", "--bearer-token", "static-456")
    # A refusal comes before the behaviour queue: the 503 step stays for
    # the first authenticated request.
    requests.put(sim.url + "/_sim/behaviour", json={"status": 503, "times": 1},
                 timeout=10).raise_for_status()
    refused = sim.send()
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer ")
    assert sim.send({"Authorization": "Bearer sim-made-up"}).status_code == 401
    assert sim.send({"X-API-Key": "wrong"}).status_code == 401

    token = sim.token()
    assert sim.send({"Authorization": f"Bearer {token}"}).status_code == 503
    assert sim.send({"Authorization": f"Bearer {token}"}).status_code == 200
    assert sim.send({"X-API-Key": "key-123"}).status_code == 200
    assert sim.send({"Authorization": "Bearer static-456"}).status_code == 200

    # Revoked, as after a key rotation at the partner: refused from then on.
    revoked = requests.delete(sim.url + "/_sim/oauth/tokens", timeout=10)
    assert revoked.json() == {"revoked": 1}
    assert sim.send({"Authorization": f"Bearer {token}"}).status_code == 401
    assert sim.send({"Authorization": f"Bearer {sim.token()}"}).status_code == 200

    # Refusals are recorded, with the status answered.
    statuses = [r["status"] for r in requests.get(sim.url + "/_sim/requests", timeout=10)
                .json()["requests"]]
    assert statuses == [401, 401, 401, 503, 200, 200, 200, 401, 200]
    assert sim.stats()["by_status"] == {"200": 4, "401": 4, "503": 1}


def test_tokens_expire(simulator):
    sim = simulator("--oauth-client", f"{CLIENT_ID}:{CLIENT_SECRET}", "--oauth-ttl", "1",
                    "--require-auth")
    token = sim.token()
    issued = time.monotonic()
    assert sim.send({"Authorization": f"Bearer {token}"}).status_code == 200
    wait_until(lambda: sim.send({"Authorization": f"Bearer {token}"}).status_code == 401, 5,
               "the token to expire")
    assert time.monotonic() - issued >= 0.9


@pytest.mark.parametrize("arguments, message", [
    (["--require-auth"], "--require-auth needs --oauth-client, --bearer-token or --api-key"),
    (["--oauth-client", "no-colon"], "--oauth-client wants ID:SECRET"),
    (["--oauth-client", ":secret"], "--oauth-client wants ID:SECRET"),
    (["--oauth-ttl", "0"], "--oauth-ttl wants a positive whole number"),
    (["--oauth-ttl", "86401"], "--oauth-ttl is at most 86400"),
])
def test_bad_auth_options_refused(arguments, message):
    result = subprocess.run([SIM, "--listen", "127.0.0.1:0", *arguments], capture_output=True,
                            text=True, timeout=10)
    assert result.returncode == 2
    assert message in result.stderr
