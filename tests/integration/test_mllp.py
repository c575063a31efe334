"""placehub-mllp on a real broker, driven by an HL7 client no one here wrote.

The `hl7` package from PyPI sends the sample ADT messages of tests/data/hl7/
over MLLP (hl7.client.MLLPClient) and parses the ACKs (hl7.parse). The events
that land on the admission and discharge topics are read back with
confluent-kafka's AvroDeserializer through placehub-registry and compared
field by field with tests/data/hl7/expected.json (worked out by hand from
docs/hl7.md); the raw topic must hold every accepted message byte for byte.
Refused messages must get AR and leave every topic's end offset as it was;
with Kafka stopped the answer is AE. The broker is stopped by the last test,
so it stays last in this file.
"""
import datetime
import json
import os
import socket
import tempfile
import time
import uuid

import hl7
import hl7.client
import pytest
from confluent_kafka import Consumer, DeserializingConsumer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer

from harness import BIN, REPO, Process, free_port, wait_until

HL7_DATA = os.path.join(REPO, "tests", "data", "hl7")
EXPECTED = json.load(open(os.path.join(HL7_DATA, "expected.json")))["events"]
NAMESPACE = uuid.UUID("fa86bb96-54e3-469b-8559-b8af3f61b5b2")  # services/mllp/adt.c
RAW_TOPIC = "hl7-raw"
TOPICS = ["admission", "discharge", RAW_TOPIC]
MAX_MESSAGE_BYTES = 16384
# Sent in this order on one connection: a spell as it happens.
ORDER = ["a01", "a02", "a16", "a03", "a13", "a11", "a12", "a25", "a04", "a05", "a08"]


def sample(name):
    with open(os.path.join(HL7_DATA, name + ".hl7"), "rb") as f:
        return f.read()


def control_id(message):
    return message.split(b"\r")[0].split(b"\n")[0].split(b"|")[9].decode()


def with_control_id(message, new_id):
    """The message with another MSH-10, i.e. a different message."""
    return message.replace(control_id(message).encode(), new_id.encode(), 1)


def message_id(message):
    """The event id placehub derives: UUID v5 of MSH-3|MSH-4|MSH-10."""
    fields = message.split(b"\r")[0].split(b"\n")[0].decode().split("|")
    return str(uuid.uuid5(NAMESPACE, f"hl7v2-message|{fields[2]}|{fields[3]}|{fields[9]}"))


def write_config(path, broker, mllp_port, registry_port, produce_timeout_ms):
    topics = "".join(f"""  - name: {t}
    partitions: 3
    replication_factor: 1
    retention_ms: -1
""" for t in TOPICS)
    with open(os.path.join(HL7_DATA, "mllp.yaml")) as f:
        settings = f.read()
    settings = settings.replace("mllp:\n", f"""mllp:
  listen: "127.0.0.1:{mllp_port}"
  max_message_bytes: {MAX_MESSAGE_BYTES}
  read_timeout_ms: 2000
  produce_timeout_ms: {produce_timeout_ms}
""", 1)
    with open(path, "w") as f:
        f.write(f"""kafka:
  bootstrap_servers: "{broker.bootstrap}"
schema_registry:
  mode: embedded
  schemas_dir: "{os.path.join(REPO, 'schemas')}"
  listen: "127.0.0.1:{registry_port}"
topics:
{topics}{settings}""")


class Intake:
    """placehub-mllp and placehub-registry on the module's broker."""

    def __init__(self, broker):
        self.workdir = tempfile.mkdtemp(prefix="placehub-mllp-")
        self.port = free_port()
        self.registry_port = free_port()
        self.config = os.path.join(self.workdir, "placehub.yaml")
        write_config(self.config, broker, self.port, self.registry_port, 3000)
        self.registry = Process("registry", [os.path.join(BIN, "placehub-registry"), "-c",
                                             self.config], self.workdir)
        self.mllp = Process("mllp", [os.path.join(BIN, "placehub-mllp"), "-c", self.config],
                            self.workdir)
        wait_until(self._listening, 60, "placehub-mllp to accept connections")

    def _listening(self):
        if not self.mllp.alive():
            raise AssertionError(f"placehub-mllp exited:\n{self.mllp.output()}")
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def client(self):
        return hl7.client.MLLPClient("127.0.0.1", self.port)

    def stop(self):
        problems = []
        for process in (self.mllp, self.registry):
            code = process.stop()
            output = process.output()
            if code != 0 or any(s in output for s in ("runtime error:", "AddressSanitizer",
                                                 "LeakSanitizer")):
                problems.append(f"{process.name} exited {code}:\n{output[-3000:]}")
        assert not problems, "\n".join(problems) + f"\n(logs in {self.workdir})"


@pytest.fixture(scope="module")
def intake(broker):
    if not os.path.exists(os.path.join(BIN, "placehub-mllp")):
        pytest.fail(f"build first (make): placehub-mllp is missing in {BIN}")
    intake = Intake(broker)
    yield intake
    intake.stop()
    # The log is the auditors' concern too: no person's data in it.
    log = intake.mllp.output()
    for secret in ("9990123454", "9990078777", "Holloway", "Oldham", "Mill Lane"):
        assert secret not in log, f"{secret!r} appears in placehub-mllp's log"


def send(client, message):
    """Sends one message and returns the parsed ACK."""
    answer = client.send_message(message)
    assert answer.startswith(b"\x0b") and answer.endswith(b"\x1c\r"), answer
    return hl7.parse(answer[1:-2].decode())


def ack_code(ack):
    return str(ack.segment("MSA")[1])


def err_code(ack):
    return str(ack.segment("ERR")[3][0][0])


def read_topic(broker, topic, count, deserializer=None, timeout=60):
    """The first count messages of every partition of topic, from the start."""
    config = {"bootstrap.servers": broker.bootstrap, "group.id": "test-" + uuid.uuid4().hex,
              "enable.auto.commit": False}
    if deserializer:
        config["value.deserializer"] = deserializer
        consumer = DeserializingConsumer(config)
    else:
        consumer = Consumer(config)
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        found = []

        def poll():
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                found.append(message)
            return len(found) >= count
        wait_until(poll, timeout, f"{count} messages on {topic}", 0)
        return found
    finally:
        consumer.close()


def plain(value):
    """fastavro's Python values back to placehub's plain JSON form."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime.datetime):
        value = value.astimezone(datetime.timezone.utc)
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def test_every_trigger_acknowledged_and_mapped(intake, broker):
    before = broker.end_offsets(TOPICS)
    acks = {}
    started = time.time()
    with intake.client() as client:  # one connection carries them all
        for name in ORDER:
            acks[name] = send(client, sample(name))
    for name in ORDER:
        ack = acks[name]
        message = sample(name)
        assert ack_code(ack) == "AA", f"{name}: {ack}"
        assert str(ack.segment("MSA")[2]) == control_id(message)
        msh = ack.segment("MSH")
        # Sender and receiver swapped; the trigger echoed.
        assert (str(msh[3]), str(msh[4]), str(msh[5]), str(msh[6])) == (
            "PLACEHUB", "PLACEHUB", "PAS", "RXX")
        assert str(msh[9]) == f"ACK^{name.upper()}^ACK"
        assert str(msh[12]) == "2.5"
        if EXPECTED[name]["topic"]:
            assert message_id(message) in str(ack.segment("MSA")[3])

    after = broker.end_offsets(TOPICS)
    wanted = {t: sum(1 for n in ORDER if EXPECTED[n]["topic"] == t) for t in TOPICS}
    wanted[RAW_TOPIC] = len(ORDER)
    assert {t: after[t] - before[t] for t in TOPICS} == wanted

    # The events, decoded by standard tooling through placehub's registry.
    deserializer = AvroDeserializer(SchemaRegistryClient(
        {"url": f"http://127.0.0.1:{intake.registry_port}"}))
    events, keys = {}, {}
    for topic in ("admission", "discharge"):
        for record in read_topic(broker, topic, wanted[topic], deserializer):
            event = plain(record.value())
            events[event["event_id"]] = (topic, event)
            keys[event["event_id"]] = record.key()
            assert dict(record.headers())["event_id"].decode() == event["event_id"]
    assert len(events) == 8
    for name in ORDER:
        topic, expected = EXPECTED[name]["topic"], EXPECTED[name]["event"]
        if topic is None:
            continue
        got_topic, got = events[expected["event_id"]]
        assert got_topic == topic, name
        recorded = datetime.datetime.fromisoformat(got.pop("recorded_at").replace("Z", "+00:00"))
        assert abs(recorded.timestamp() - started) < 120, f"{name}: recorded_at {recorded}"
        for field, value in expected.items():
            assert got[field] == value, f"{name}: {field}: {got[field]!r} != {value!r}"
        assert got == expected, name

    # Every accepted message as received, keyed like its event, with its id.
    raw = read_topic(broker, RAW_TOPIC, len(ORDER))
    by_id = {dict(r.headers())["event_id"].decode(): r for r in raw}
    for name in ORDER:
        message = sample(name)
        record = by_id[message_id(message)]
        headers = dict(record.headers())
        assert record.value() == message, f"{name}: the raw message differs from what was sent"
        assert headers["hl7_trigger"].decode() == name.upper()
        assert headers["event_topic"].decode() == (EXPECTED[name]["topic"] or "")
        if EXPECTED[name]["topic"]:
            assert record.key() == keys[message_id(message)]


def test_message_sent_again_keeps_its_event_id(intake, broker):
    message = with_control_id(sample("a01"), "RXX0900")
    with intake.client() as client:
        first = send(client, message)
        second = send(client, message)
    assert ack_code(first) == ack_code(second) == "AA"
    assert str(first.segment("MSA")[3]) == str(second.segment("MSA")[3])
    assert message_id(message) in str(first.segment("MSA")[3])
    assert str(first.segment("MSH")[10]) != str(second.segment("MSH")[10])


# (what is wrong, the message, ERR-3 code, a phrase of the reason)
A01 = sample("a01")
REFUSED = [
    ("not HL7", b"hello, is this the PAS?", "102", "must start with an MSH"),
    ("encoding characters", A01.replace(b"^~\\&", b"^~^&", 1), "102", "MSH-2"),
    ("unterminated escape", A01.replace(b"Ward 7 \\T\\ AMU", b"Ward 7 \\T AMU"), "102",
     "escape sequence not closed"),
    ("lower-case segment", A01.replace(b"\rPV1|", b"\rpv1|"), "102", "3 capital letters"),
    ("message type", A01.replace(b"ADT^A01^ADT_A01", b"ORU^R01^ORU_R01"), "200", "only ADT"),
    ("trigger", A01.replace(b"ADT^A01^ADT_A01", b"ADT^A28^ADT_A05"), "201", "A28"),
    ("version", A01.replace(b"|P|2.5|", b"|P|3.0|"), "203", "2.x"),
    ("NHS number", A01.replace(b"9990123454", b"9990123455"), "204", "check digit"),
    ("no PV1", b"\r".join(s for s in A01.split(b"\r") if not s.startswith(b"PV1")), "100",
     "PV1"),
    ("date", A01.replace(b"19440312", b"19441312"), "102", "PID-7"),
    ("oversized", A01 + b"NTE|1||" + b"x" * MAX_MESSAGE_BYTES + b"\r", "100",
     f"larger than {MAX_MESSAGE_BYTES} bytes"),
]


@pytest.mark.parametrize("what,message,code,reason", REFUSED, ids=[r[0] for r in REFUSED])
def test_refused_message_gets_ar_and_produces_nothing(intake, broker, what, message, code,
                                                        reason):
    before = broker.end_offsets(TOPICS)
    with intake.client() as client:
        ack = send(client, message)
        # The connection stays usable after a refusal.
        good = send(client, with_control_id(sample("a04"), "RXX9" + uuid.uuid4().hex[:6]))
    assert ack_code(ack) == "AR", f"{what}: {ack}"
    assert err_code(ack) == code, f"{what}: {ack}"
    assert reason in str(ack.segment("MSA")[3]), f"{what}: {ack}"
    assert str(ack.segment("ERR")[4]) == "E"
    if message.startswith(A01.split(b"\r")[0] + b"\r") and what != "oversized":
        # A sound MSH is answered in kind, whatever is wrong further on (an
        # oversized message is never kept, so its MSH is not read).
        assert str(ack.segment("MSA")[2]) == control_id(message), what
    assert ack_code(good) == "AA"
    after = broker.end_offsets(TOPICS)
    # Only the A04 sent afterwards reached a topic (the raw one).
    assert {t: after[t] - before[t] for t in TOPICS} == {"admission": 0, "discharge": 0,
                                                         RAW_TOPIC: 1}


def test_framing_error_answered_then_closed(intake, broker):
    before = broker.end_offsets(TOPICS)
    with socket.create_connection(("127.0.0.1", intake.port), timeout=10) as s:
        s.sendall(b"MSH|^~\\&|no start block\r")
        answer = b""
        while not answer.endswith(b"\x1c\r"):
            chunk = s.recv(4096)
            assert chunk, "closed without an answer"
            answer += chunk
        assert s.recv(4096) == b"", "the connection should be closed after a framing error"
    ack = hl7.parse(answer[1:-2].decode())
    assert ack_code(ack) == "AR"
    assert "outside a frame" in str(ack.segment("MSA")[3])
    assert broker.end_offsets(TOPICS) == before


def test_incomplete_message_times_out(intake):
    with socket.create_connection(("127.0.0.1", intake.port), timeout=10) as s:
        s.sendall(b"\x0bMSH|^~\\&|PAS|RXX")
        began = time.monotonic()
        assert s.recv(4096) == b""
        assert time.monotonic() - began < 8, "read_timeout_ms is 2000"


def test_kafka_down_gives_ae_then_accepted(intake, broker):
    """Last: stops the module's broker."""
    message = with_control_id(sample("a03"), "RXX0950")
    broker.stop()
    try:
        with intake.client() as client:
            began = time.monotonic()
            ack = send(client, message)
        assert ack_code(ack) == "AE", str(ack)
        assert err_code(ack) == "207"
        assert "send it again" in str(ack.segment("MSA")[3])
        assert time.monotonic() - began < 15, "answered within produce_timeout_ms"
    finally:
        broker.start()

    def accepted():
        with intake.client() as client:
            answer = send(client, message)
        return answer if ack_code(answer) == "AA" else None
    ack = wait_until(accepted, 120, "AA once Kafka is back", 0.5)
    assert message_id(message) in str(ack.segment("MSA")[3])
