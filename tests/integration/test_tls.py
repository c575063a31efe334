"""Real TLS to a partner, end to end through dispatch on the real broker:
mutual TLS (the partner requires placehub's client certificate), server
certificate verification always on, and what happens when either side's
certificate is wrong. The certificates come from a throwaway CA made here."""
import http.server
import json
import os
import random
import ssl
import subprocess
import threading

import pytest

import events
from harness import free_port, wait_until


def openssl(folder, *args):
    subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pki")
    openssl(folder, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=placehub test CA", "-keyout", "ca.key", "-out", "ca.pem")
    for name, extension in (("partner", "subjectAltName=IP:127.0.0.1"),
                            ("hub", "extendedKeyUsage=clientAuth")):
        openssl(folder, "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
                "-keyout", f"{name}.key", "-out", f"{name}.csr")
        with open(folder / f"{name}.ext", "w") as f:
            f.write(extension + "\n")
        openssl(folder, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey",
                "ca.key", "-CAcreateserial", "-days", "1", "-extfile", f"{name}.ext",
                "-out", f"{name}.pem")
    # A second, unrelated CA: its client certificate must be refused.
    openssl(folder, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=stranger", "-keyout", "stranger.key", "-out", "stranger.pem")
    for name in os.listdir(folder):
        os.chmod(folder / name, 0o600)
    return folder


class Recorder(http.server.BaseHTTPRequestHandler):
    received = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        peer = self.connection.getpeercert()
        subject = dict(x[0] for x in peer["subject"]) if peer else {}
        Recorder.received.append({"client": subject.get("commonName"),
                                  "event": json.loads(body)})
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def https_partner(certificates):
    """An HTTPS partner that requires a client certificate from our CA."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificates / "partner.pem", certificates / "partner.key")
    context.load_verify_locations(certificates / "ca.pem")
    context.verify_mode = ssl.CERT_REQUIRED
    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Recorder)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{port}/events"
    server.shutdown()


def delivered(event_ids):
    return {r["event"]["event_id"] for r in Recorder.received} >= set(event_ids)


def test_mutual_tls_delivers_with_the_client_certificate(make_hub, certificates, https_partner):
    hub = make_hub({"trust": ["admission"]}, partner_options={"trust": {
        "url": https_partner, "auth": "mtls",
        "tls_ca_file": certificates / "ca.pem",
        "tls_client_cert": certificates / "hub.pem",
        "tls_client_key": certificates / "hub.key"}})
    answer = hub.post("admission", events.admission(random.Random(61)))
    assert answer.status_code == 202
    wait_until(lambda: delivered([answer.json()["event_id"]]), 60,
               "the event delivered over mutual TLS")
    ours = [r for r in Recorder.received if r["event"]["event_id"] == answer.json()["event_id"]]
    assert ours[0]["client"] == "hub", "the partner saw placehub's client certificate"


@pytest.mark.parametrize("case", ["no client certificate", "untrusted client certificate",
                                  "server certificate not trusted"])
def test_tls_failures_deliver_nothing(make_hub, broker, certificates, https_partner, case):
    options = {"url": https_partner, "tls_ca_file": certificates / "ca.pem",
               "tls_client_cert": certificates / "hub.pem",
               "tls_client_key": certificates / "hub.key"}
    if case == "no client certificate":
        del options["tls_client_cert"], options["tls_client_key"]
    elif case == "untrusted client certificate":
        options["tls_client_cert"] = certificates / "stranger.pem"
        options["tls_client_key"] = certificates / "stranger.key"
    else:
        del options["tls_ca_file"]  # the system CAs do not know our test CA
    hub = make_hub({"trust": ["admission"]}, partner_options={"trust": options},
                   dispatch_settings={"breaker_failures": 1000})
    answer = hub.post("admission", events.admission(random.Random(62)))
    event_id = answer.json()["event_id"]
    # Depending on the TLS version the refusal shows as a handshake error
    # or as the connection dropped after it: either way a failed attempt,
    # retried, never delivered.
    wait_until(lambda: "delivery failed partner=trust" in hub.dispatch.output(), 30,
               "a failed, retried attempt")
    assert event_id not in {r["event"]["event_id"] for r in Recorder.received}
    # Nothing can get through this partner's TLS, so nothing may be committed.
    assert broker.committed(hub.group("trust"), ["admission"])["admission"] == 0
