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
import tempfile

import pytest

import events
from harness import wait_until
from mesh import HUB_MAILBOX, PARTNER_MAILBOX, MeshSandbox


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
