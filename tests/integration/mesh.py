"""NHS England's MESH sandbox (PyPI mesh-sandbox), run for the MESH tests on
a loopback port with TLS both ways, and mesh-client (PyPI), the other party.

A certificate authority made here signs the sandbox's server certificate and
the client certificates (the hub's and the partner's): uvicorn asks every
client for a certificate signed by it (--ssl-cert-reqs 2), and placehub
verifies the server against it (TLS verification stays on). The sandbox
stores messages in a fresh folder (STORE_MODE=file), so a restart keeps
them and no run sees another's. Its mailboxes X26ABC1, X26ABC2 and X26ABC3
(password "password") are built in: the hub is X26ABC1 and the partner
X26ABC2; X26ABC3 is a mailbox the hub knows nothing of.
"""
import datetime
import ipaddress
import json
import os
import sys
import tempfile

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from harness import Process, free_port, wait_until

HUB_MAILBOX, PARTNER_MAILBOX, STRANGER_MAILBOX = "X26ABC1", "X26ABC2", "X26ABC3"
PASSWORD = "password"
SHARED_KEY = "PlacehubTestSharedKey"


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(path, key, certificate):
    with open(path + ".key", "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    with open(path + ".pem", "wb") as f:
        f.write(certificate.public_bytes(serialization.Encoding.PEM))
    return path + ".pem", path + ".key"


def make_pki(folder):
    """A test CA, a server certificate for 127.0.0.1 and localhost, and a
    client certificate for each party. Returns {name: (pem, key)}."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("placehub test MESH CA"))
          .issuer_name(_name("placehub test MESH CA")).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    made = {"ca": _write(os.path.join(folder, "ca"), ca_key, ca)}
    for name, usage in (("server", ExtendedKeyUsageOID.SERVER_AUTH),
                        ("hub", ExtendedKeyUsageOID.CLIENT_AUTH),
                        ("partner", ExtendedKeyUsageOID.CLIENT_AUTH)):
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (x509.CertificateBuilder().subject_name(_name(f"placehub test {name}"))
                   .issuer_name(ca.subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
        if name == "server":
            builder = builder.add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
        made[name] = _write(os.path.join(folder, name), key, builder.sign(ca_key, hashes.SHA256()))
    return made


class MeshSandbox:
    """mesh-sandbox under uvicorn with TLS on a free port; restartable on the
    same port and store."""

    def __init__(self, workdir, shared_key=SHARED_KEY):
        self.workdir = workdir
        self.pki = make_pki(workdir)
        self.ca = self.pki["ca"][0]
        self.store = tempfile.mkdtemp(prefix="mesh-store-", dir=workdir)
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.shared_key = shared_key
        self.process = None
        self.runs = 0
        self.clients = []  # closed by stop()
        self.start()

    def start(self):
        self.runs += 1
        server_pem, server_key = self.pki["server"]
        self.process = Process(
            f"mesh-sandbox-{self.runs}",
            [sys.executable, "-m", "uvicorn", "mesh_sandbox.api:app", "--host", "127.0.0.1",
             "--port", str(self.port), "--ssl-keyfile", server_key, "--ssl-certfile", server_pem,
             "--ssl-ca-certs", self.ca, "--ssl-cert-reqs", "2", "--log-level", "warning"],
            self.workdir,
            env={"STORE_MODE": "file", "MAILBOXES_DATA_DIR": self.store,
                 "SHARED_KEY": self.shared_key, "AUTH_MODE": "full"})
        wait_until(self.ready, 60, f"mesh-sandbox on {self.url}")
        return self

    def ready(self):
        if not self.process.alive():
            raise AssertionError(f"mesh-sandbox exited:\n{self.process.output()}")
        try:
            return requests.get(self.url + "/health", verify=self.ca, cert=self.pki["partner"],
                                timeout=2).status_code == 200
        except requests.exceptions.RequestException:
            return False

    def stop(self):
        for client in self.clients:
            client.close()
        self.clients = []
        if self.process and not self.process.log.closed:
            self.process.stop()

    def stored(self, mailbox, message_id):
        """The sandbox's file-store record of a message in mailbox's inbox."""
        with open(os.path.join(self.store, mailbox, "in", message_id + ".json")) as f:
            return json.load(f)

    def client(self, mailbox, shared_key=None):
        """A mesh-client MeshClient for mailbox, with the partner's client
        certificate, verifying the sandbox against the test CA."""
        from mesh_client import MeshClient
        client = MeshClient(self.url, mailbox, PASSWORD,
                            shared_key=(shared_key or self.shared_key).encode(),
                            cert=self.pki["partner"], verify=self.ca, max_retries=0, timeout=30)
        self.clients.append(client)
        return client

    def hub_options(self, to=PARTNER_MAILBOX, **extra):
        """The `mesh` connector's options for a partner behind mailbox to."""
        hub_pem, hub_key = self.pki["hub"]
        options = {"connector": "mesh", "url": self.url, "mailbox": HUB_MAILBOX,
                   "mailbox_password": "env:PLACEHUB_TEST_MESH_PASSWORD",
                   "shared_key": "env:PLACEHUB_TEST_MESH_SHARED_KEY", "to": to,
                   "workflow_id": "PLACEHUB_EVENT", "tls_ca_file": self.ca,
                   "tls_client_cert": hub_pem, "tls_client_key": hub_key}
        options.update(extra)
        return options

    def inbox_yaml(self, poll_interval_ms=100, max_message_bytes=65536, produce_timeout_ms=10000):
        """The mesh_inbox: section for placehub-mesh-inbox reading the hub's
        mailbox (HUB_MAILBOX) with the hub's certificate."""
        hub_pem, hub_key = self.pki["hub"]
        return (f"mesh_inbox:\n  url: \"{self.url}\"\n  mailbox: {HUB_MAILBOX}\n"
                f"  mailbox_password: env:PLACEHUB_TEST_MESH_PASSWORD\n"
                f"  shared_key: env:PLACEHUB_TEST_MESH_SHARED_KEY\n"
                f"  tls_ca_file: \"{self.ca}\"\n  tls_client_cert: \"{hub_pem}\"\n"
                f"  tls_client_key: \"{hub_key}\"\n  poll_interval_ms: {poll_interval_ms}\n"
                f"  max_message_bytes: {max_message_bytes}\n  timeout_ms: 5000\n"
                f"  produce_timeout_ms: {produce_timeout_ms}\n")

    def statuses(self, mailbox):
        """{message id: its last status} of what the sandbox holds for
        mailbox (accepted, acknowledged, ...), from its file store."""
        folder = os.path.join(self.store, mailbox, "in")
        found = {}
        for name in os.listdir(folder) if os.path.isdir(folder) else []:
            if name.endswith(".json"):
                with open(os.path.join(folder, name)) as f:
                    events = json.load(f)["events"]
                latest = max(events, key=lambda e: e["timestamp"])
                found[name[:-5]] = latest["status"]
        return found

    def env(self, shared_key=None):
        return {"PLACEHUB_TEST_MESH_PASSWORD": PASSWORD,
                "PLACEHUB_TEST_MESH_SHARED_KEY": shared_key or self.shared_key}
