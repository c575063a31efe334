"""MESH, both ways, against NHS England's own sandbox (mesh-sandbox, run
with TLS both ways: tests/integration/mesh.py) and NHS England's own client
(mesh-client) as the other party.

Outbound, the `mesh` connector in placehub-dispatch: an event reaches the
partner's mailbox with the MESH headers the partner reads, in chunks when it
is larger than chunk_size, and the message id MESH gave it is the receipt's
partner_reference; a wrong shared key is refused by the sandbox (403) and
the event retried until its retry window closes, then dead-lettered with the
reason; an unknown recipient is dead-lettered at once with MESH's words.

Outbound tests use a topic each, so no test's events reach another's
partner (the module shares one broker).
"""
import json
import random
import signal
import tempfile
import uuid

import pytest

import events
from harness import wait_until
from mesh import HUB_MAILBOX, PARTNER_MAILBOX, STRANGER_MAILBOX, MeshSandbox


@pytest.fixture
def sandbox():
    sandbox = MeshSandbox(tempfile.mkdtemp(prefix="placehub-mesh-"))
    yield sandbox
    sandbox.stop()


def records(broker, topic):
    return [(json.loads(value) if value and value[:1] == b"{" else value, headers)
            for _, value, headers in broker.read_topic(topic)]


def inbox(client):
    return client.list_messages()


def post(hub, event_type, event):
    answer = hub.post(event_type, event)
    assert answer.status_code == 202, answer.text
    return answer.json()["event_id"]


def test_events_reach_the_partners_mailbox_whole_and_in_chunks(make_hub, broker, sandbox):
    """Two partners behind one mailbox: one gets each event in one message,
    the other in chunks of 300 bytes. The partner reads both with
    mesh-client: the event as sent, the event id as mex-LocalID, the workflow,
    and the chunked one reassembled. Receipts carry MESH's message ids."""
    hub = make_hub({"gp": ["referral"], "gp-chunked": ["admission"]},
                   partner_options={
                       "gp": sandbox.hub_options(),
                       "gp-chunked": sandbox.hub_options(chunk_size=300,
                                                         workflow_id="PLACEHUB_CHUNKED")},
                   env=sandbox.env())
    rng = random.Random(2001)
    referral = events.make("referral", rng)
    admission = events.make("admission", rng)
    referral_id, admission_id = post(hub, "referral", referral), post(hub, "admission", admission)
    sent = {referral_id: referral, admission_id: admission}
    assert len(json.dumps(admission)) > 2 * 300

    partner = sandbox.client(PARTNER_MAILBOX)
    ids = wait_until(lambda: len(inbox(partner)) == 2 and inbox(partner), 60,
                     "both events in the partner's MESH inbox")
    received = {}
    for message_id in ids:
        message = partner.retrieve_message(message_id)
        body = json.loads(message.read())
        received[body["event_id"]] = (message_id, message, body)
    assert set(received) == set(sent)
    for event_id, (message_id, message, body) in received.items():
        assert message.mex_header("localid") == event_id
        assert message.mex_header("from") == HUB_MAILBOX
        # Every field sent arrives as sent (the partner's agreement lets all
        # through), the chunked event reassembled byte for byte.
        assert {k: body[k] for k in sent[event_id]} == sent[event_id]
    _, chunked, _ = received[admission_id]
    assert chunked.mex_header("workflowid") == "PLACEHUB_CHUNKED"
    assert received[referral_id][1].mex_header("workflowid") == "PLACEHUB_EVENT"
    # The sandbox's own record of the uploads: chunks, and one piece.
    assert sandbox.stored(PARTNER_MAILBOX, received[admission_id][0])["total_chunks"] >= 3
    assert sandbox.stored(PARTNER_MAILBOX, received[referral_id][0])["total_chunks"] == 1

    def receipts():
        return [r for r, _ in records(broker, hub.audit_topic)
                if isinstance(r, dict) and r.get("record") == "delivery"]
    wait_until(lambda: len(receipts()) == 2, 30, "a receipt per event")
    for receipt in receipts():
        assert receipt["outcome"] == "delivered"
        assert receipt["partner_reference"] == received[receipt["event_id"]][0]
    assert broker.read_topic(hub.dead_letter_topic) == []


def test_wrong_shared_key_is_retried_then_dead_lettered(make_hub, broker, sandbox):
    """The hub signs with the wrong shared key: the sandbox answers 403 to
    every request. That is the hub's credentials, not the event: retried
    until the retry window closes, then dead-lettered with a reason that
    says what to check. Nothing reaches the partner."""
    hub = make_hub({"gp": ["discharge"]}, partner_options={"gp": sandbox.hub_options()},
                   env=sandbox.env(shared_key="NotTheSandboxKey"),
                   dispatch_settings={"retry_window_ms": 3000, "breaker_failures": 1000})
    event_id = post(hub, "discharge", events.make("discharge", random.Random(2002)))
    wait_until(lambda: len(broker.read_topic(hub.dead_letter_topic)) == 1, 60,
               "the event dead-lettered when its retry window closed")
    [(_, _, headers)] = broker.read_topic(hub.dead_letter_topic)
    assert headers["placehub.event_id"] == event_id
    assert "retry window" in headers["placehub.reason"]
    assert f"MESH refused mailbox {HUB_MAILBOX}'s credentials" in headers["placehub.reason"]
    assert int(headers["placehub.attempts"]) >= 2
    assert inbox(sandbox.client(PARTNER_MAILBOX)) == []


def test_unknown_recipient_is_dead_lettered_with_meshs_words(make_hub, broker, sandbox):
    """A recipient mailbox MESH does not know is refused for good (417):
    dead-lettered at the first attempt, with MESH's reason."""
    hub = make_hub({"gp": ["employment-support"]},
                   partner_options={"gp": sandbox.hub_options(to="X26NOSUCH")},
                   env=sandbox.env())
    event_id = post(hub, "employment-support",
                    events.make("employment-support", random.Random(2003)))
    wait_until(lambda: len(broker.read_topic(hub.dead_letter_topic)) == 1, 60,
               "the event dead-lettered")
    [(_, _, headers)] = broker.read_topic(hub.dead_letter_topic)
    assert headers["placehub.event_id"] == event_id
    assert headers["placehub.attempts"] == "1"
    assert "HTTP 417" in headers["placehub.reason"]
    assert "Unregistered to address" in headers["placehub.reason"]


# --- inbound: placehub-mesh-inbox reads the hub's mailbox -----------------
# The partner "gp-sender" sends from PARTNER_MAILBOX with mesh-client; a
# webhook partner ("housing") gets what reached Kafka, so what is checked is
# the whole way: MESH in, Kafka, dispatch, out.

def inbound_hub(make_hub, sandbox, produce_timeout_ms=10000):
    hub = make_hub({"housing": ["referral", "discharge"]},
                   publishers={"gp-sender": {"publishes": ["referral"],
                                             "mesh_mailbox": PARTNER_MAILBOX}},
                   extra_config=sandbox.inbox_yaml(produce_timeout_ms=produce_timeout_ms),
                   env=sandbox.env())
    hub.inbox = hub.start_program("mesh-inbox")
    return hub


def send(client, event, subject="referral", **kwargs):
    data = event if isinstance(event, bytes) else json.dumps(event).encode()
    return client.send_message(HUB_MAILBOX, data, subject=subject, workflow_id="PLACEHUB_EVENT",
                               **kwargs)


def produced_ids(broker, topic):
    return [headers.get("event_id") for _, _, headers in broker.read_topic(topic)]


def refusals(broker, hub):
    return [r for r, _ in records(broker, hub.audit_topic)
            if isinstance(r, dict) and r.get("record") == "mesh_refused"]


def test_partner_messages_become_events_whole_and_in_chunks(make_hub, broker, sandbox):
    """A referral with its own event_id, and one without sent in chunks of
    400 bytes: both become events (the second with the id derived from its
    MESH message id, RFC 4122 version 5), reach the webhook partner as sent,
    and are acknowledged: the hub's inbox is empty."""
    hub = inbound_hub(make_hub, sandbox)
    rng = random.Random(2101)
    with_id = events.make("referral", rng)
    with_id["event_id"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    without_id = events.make("referral", rng)
    assert len(json.dumps(without_id)) > 2 * 400
    with sandbox.client(PARTNER_MAILBOX) as partner:
        send(partner, with_id)
        chunked_id = send(partner, without_id, max_chunk_size=400)
    assert sandbox.stored(HUB_MAILBOX, chunked_id)["total_chunks"] >= 3
    derived = str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:nhs-mesh:message:{chunked_id}"))
    expected = {with_id["event_id"]: with_id, derived: without_id}

    housing = hub.partners["housing"]
    wait_until(lambda: expected.keys() <= {e["event_id"] for e in housing.delivered_events()},
               60, "both events delivered to the webhook partner")
    for event in housing.delivered_events():
        if event["event_id"] in expected:
            sent = expected[event["event_id"]]
            assert {k: event[k] for k in sent if k != "event_id"} == \
                {k: v for k, v in sent.items() if k != "event_id"}
    wait_until(lambda: set(sandbox.statuses(HUB_MAILBOX).values()) == {"acknowledged"}, 30,
               "both messages acknowledged")
    with sandbox.client(HUB_MAILBOX) as own:
        assert own.list_messages() == []
    assert refusals(broker, hub) == []


def test_unknown_sender_and_bad_payloads_are_dead_lettered_then_acknowledged(
        make_hub, broker, sandbox):
    """From a mailbox no partner has (STRANGER_MAILBOX): refused, not
    produced. From the partner: JSON that is not JSON, an event with an NHS
    number that fails Modulus 11, and a type the partner may not send. Each
    is dead-lettered as received with the reason, has an audit record
    saying why, and is acknowledged only after both."""
    hub = inbound_hub(make_hub, sandbox)
    rng = random.Random(2102)
    stranger_event = events.make("referral", rng)
    stranger_event["event_id"] = str(uuid.uuid4())
    bad_nhs = events.make("referral", rng)
    bad_nhs["event_id"] = str(uuid.uuid4())
    bad_nhs["person"]["nhs_number"] = events.invalid_nhs_number(rng)
    discharge = events.make("discharge", rng)
    discharge["event_id"] = str(uuid.uuid4())
    with sandbox.client(STRANGER_MAILBOX) as stranger:
        from_stranger = send(stranger, stranger_event)
    with sandbox.client(PARTNER_MAILBOX) as partner:
        not_json = send(partner, b"{\"event_id\": ")
        invalid = send(partner, bad_nhs)
        not_allowed = send(partner, discharge, subject="discharge")
    wait_until(lambda: len(refusals(broker, hub)) == 4, 60, "four refusals audited")
    by_id = {r["mesh_message_id"]: r for r in refusals(broker, hub)}
    assert by_id[from_stranger]["error"] == "unknown_sender"
    assert STRANGER_MAILBOX in by_id[from_stranger]["reason"]
    assert by_id[from_stranger]["partner"] == "-"
    assert by_id[not_json]["error"] == "malformed_json"
    assert by_id[invalid]["error"] == "invalid_event"
    assert "nhs_number" in by_id[invalid]["reason"]
    assert by_id[not_allowed]["error"] == "event_type_not_allowed"
    assert by_id[not_allowed]["partner"] == "gp-sender"

    letters = {h["placehub.mesh_message_id"]: (v, h)
               for _, v, h in broker.read_topic(sandbox_dead_letter_topic())}
    assert set(letters) == set(by_id)
    assert letters[not_json][0] == b"{\"event_id\": "
    assert json.loads(letters[from_stranger][0]) == stranger_event
    assert letters[from_stranger][1]["placehub.error"] == "unknown_sender"
    for record in by_id.values():
        value, headers = letters[record["mesh_message_id"]]
        assert record["dead_letter"]["topic"] == sandbox_dead_letter_topic()
        assert headers["placehub.reason"] == record["reason"]
    wait_until(lambda: len(sandbox.statuses(HUB_MAILBOX)) == 4 and
               set(sandbox.statuses(HUB_MAILBOX).values()) == {"acknowledged"}, 30,
               "the four refused messages acknowledged")
    produced = set(produced_ids(broker, "referral")) | set(produced_ids(broker, "discharge"))
    for refused in (stranger_event, bad_nhs, discharge):
        assert refused["event_id"] not in produced
    assert "nhs_number" not in hub.inbox.output() and bad_nhs["person"]["nhs_number"] not in \
        hub.inbox.output()


def sandbox_dead_letter_topic():
    return "placehub.mesh-inbox.dead-letter"


def test_sandbox_restarted_mid_poll_loses_nothing_and_acknowledges_nothing_early(
        make_hub, broker, sandbox):
    """Forty messages waiting; the sandbox is killed once the first events
    are in Kafka, and started again on the same store. At the kill, every
    message MESH had acknowledged already had its event in Kafka; in the
    end every event is there (duplicates allowed, same event_id) and every
    message acknowledged."""
    rng = random.Random(2103)
    sent = []
    with sandbox.client(PARTNER_MAILBOX) as partner:
        for _ in range(40):
            event = events.make("referral", rng)
            event["event_id"] = str(uuid.uuid4())
            message_id = send(partner, event)
            sent.append((message_id, event["event_id"]))
    hub = inbound_hub(make_hub, sandbox)
    wanted = {event_id for _, event_id in sent}
    # The inbox's own log says when the first event is in Kafka: read as it
    # is written, it stops the sandbox while most messages still wait.
    wait_until(lambda: "event accepted mesh_message_id=" in hub.inbox.output(), 60,
               "the first events produced", interval=0.01)
    sandbox.process.stop(sig=signal.SIGKILL)
    acknowledged = {m for m, s in sandbox.statuses(HUB_MAILBOX).items() if s == "acknowledged"}
    produced = set(produced_ids(broker, "referral"))
    event_of = dict(sent)
    assert {event_of[m] for m in acknowledged} <= produced, "acknowledged before produced"
    assert len(acknowledged) < len(sent), "all done before the kill: the test proved nothing"
    wait_until(lambda: "cannot" in hub.inbox.output(), 30, "the inbox noticing MESH gone")
    sandbox.start()
    wait_until(lambda: wanted <= set(produced_ids(broker, "referral")), 90,
               "every event produced after the restart")
    wait_until(lambda: set(sandbox.statuses(HUB_MAILBOX).values()) == {"acknowledged"}, 60,
               "every message acknowledged after the restart")
    assert refusals(broker, hub) == []


def test_broker_down_nothing_is_acknowledged_until_it_is_back(make_hub, broker, sandbox):
    """With the broker stopped, a message is downloaded, its event not
    acknowledged by the broker, and so the message is NOT acknowledged to
    MESH: it stays in the inbox. Once the broker is back, the event is
    produced and only then the message acknowledged. Last in the module: it
    stops the module's broker."""
    hub = inbound_hub(make_hub, sandbox, produce_timeout_ms=2000)
    rng = random.Random(2104)
    first, held = events.make("referral", rng), events.make("referral", rng)
    first["event_id"], held["event_id"] = str(uuid.uuid4()), str(uuid.uuid4())
    with sandbox.client(PARTNER_MAILBOX) as partner:
        first_message = send(partner, first)
        wait_until(lambda: sandbox.statuses(HUB_MAILBOX).get(first_message) == "acknowledged", 60,
                   "the first message acknowledged while the broker is up")
        broker.stop()
        held_message = send(partner, held)
    wait_until(lambda: f"event not acknowledged by the broker mesh_message_id={held_message}"
               in hub.inbox.output(), 60, "the inbox failing to produce the held event")
    assert sandbox.statuses(HUB_MAILBOX)[held_message] == "accepted", "acknowledged early"
    broker.start()
    wait_until(lambda: sandbox.statuses(HUB_MAILBOX).get(held_message) == "acknowledged", 90,
               "the held message acknowledged once the broker is back")
    assert held["event_id"] in produced_ids(broker, "referral")
