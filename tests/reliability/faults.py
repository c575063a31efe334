"""Fault-injection helpers: a librdkafka mock cluster in a process of its own
(tests/fault/mock_cluster.c), a steady load of events posted to ingest while
a fault happens, and the accounting that proves nothing was lost.

The accounting is the evidence behind docs/reliability.md: for each fault,
events acknowledged (ingest answered 202), delivered (the partner answered
2xx), dead-lettered, duplicates (the same event id delivered again) and
lost (acknowledged yet neither delivered nor dead-lettered). When
PLACEHUB_RELIABILITY_REPORT names a file, each fault's counts are appended
to it as one JSON line; tests/reliability/report.py prints the table.
"""
import json
import os
import random
import string
import subprocess
import threading
import time

import requests

import events
from harness import REPO, TOPICS, Broker, wait_until

MOCK_CLUSTER = os.path.join(REPO, os.environ.get("BUILD", "build"), "fault", "mock_cluster")


class MockCluster:
    """A mock Kafka cluster of `brokers` brokers (ids 1..brokers) with the
    hub's event topics, 3 partitions each, driven by commands on stdin."""

    # Reading topics works against the mock as against the real broker.
    read_topic = Broker.read_topic
    _high_watermark = staticmethod(Broker._high_watermark)

    def __init__(self, brokers=3):
        if not os.path.exists(MOCK_CLUSTER):
            raise RuntimeError(f"build first: make {os.path.relpath(MOCK_CLUSTER, REPO)}")
        self.process = subprocess.Popen(
            # placehub.objections: the objection register's topic, which
            # every program's kafka_topics_ensure would otherwise ask for.
            [MOCK_CLUSTER, str(brokers)] + [f"{t}:3" for t in (*TOPICS, "placehub.objections")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        words = self.process.stdout.readline().split()
        if len(words) != 2 or words[0] != "bootstrap":
            self.process.kill()
            raise RuntimeError(f"mock_cluster did not start: {words}")
        self.bootstrap = words[1]
        # What Broker.read_topic hands its consumers (no authentication here).
        self.client_config = {"bootstrap.servers": self.bootstrap}
        self.lock = threading.Lock()

    def command(self, line):
        """Sends one command; fails unless the cluster answered ok."""
        with self.lock:
            self.process.stdin.write(line + "\n")
            self.process.stdin.flush()
            answer = self.process.stdout.readline().strip()
        assert answer == "ok", f"mock_cluster refused '{line}': {answer}"

    def create_hub_topics(self, group_prefix):
        """The dead-letter and audit topics of a hub with group_prefix, which
        ingest and dispatch would create themselves (the mock does not
        implement CreateTopics): made before the hub starts."""
        for topic in (f"{group_prefix}.dead-letter", f"{group_prefix}.audit"):
            self.command(f"topic {topic} 3 3")

    def close(self):
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def quick_group_failover(hub):
    """A killed dispatch's group membership lapses after session.timeout.ms
    (45 s by default); 6 s (the broker's minimum) keeps each cycle short
    without changing what is being tested. Applies to processes started
    from now on."""
    with open(hub.config_path) as f:
        text = f.read()
    marker = "  bootstrap_servers:"
    line_end = text.index("\n", text.index(marker)) + 1
    text = (text[:line_end] + "  properties:\n    session.timeout.ms: \"6000\"\n"
            "    heartbeat.interval.ms: \"1000\"\n" + text[line_end:])
    with open(hub.config_path, "w") as f:
        f.write(text)


class Load:
    """Posts events to ingest from a thread, one after another, for a fixed
    set of people, until stopped. Every answer is kept: 202s are the events
    the hub now owes a partner; anything else (503 while Kafka is out) is an
    event the sender still holds."""

    def __init__(self, hub, event_type="admission", people=8, seed=1, notes_bytes=0):
        """notes_bytes: each event carries a notes field of that many
        invented letters (random, so compression cannot shrink it)."""
        self.hub = hub
        self.notes_bytes = notes_bytes
        self.event_type = event_type
        self.rng = random.Random(seed)
        self.people = [events.nhs_number(self.rng) for _ in range(people)]
        self.acked = []
        self.refused = []
        self.refused_seconds = []  # how long each refused post waited for its answer
        self.errors = []
        self.failure = None
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        try:
            self._post_until_stopped()
        except Exception as error:  # surfaced by stop()
            self.failure = error

    def _post_until_stopped(self):
        n = 0
        while not self.stopping.is_set():
            event = events.make(self.event_type, self.rng,
                                nhs=self.people[n % len(self.people)])
            n += 1
            if self.notes_bytes:
                event["notes"] = "".join(self.rng.choices(string.ascii_lowercase + " ",
                                                          k=self.notes_bytes))
            began = time.monotonic()
            try:
                answer = self.hub.post(self.event_type, event)
            except requests.RequestException as error:
                # ingest itself is down (a kill -9 test): the sender holds it.
                with self.lock:
                    self.errors.append(type(error).__name__)
                time.sleep(0.05)
                continue
            with self.lock:
                if answer.status_code == 202:
                    self.acked.append(answer.json()["event_id"])
                else:
                    self.refused.append(answer.status_code)
                    self.refused_seconds.append(time.monotonic() - began)

    def start(self):
        self.thread.start()
        return self

    def counts(self):
        with self.lock:
            return len(self.acked), len(self.refused) + len(self.errors)

    def _progress(self, index, target):
        if self.failure is not None:
            raise AssertionError(f"the load thread failed: {self.failure!r}")
        return self.counts()[index] >= target

    def wait_acked(self, more, timeout=90):
        """Waits until `more` events beyond those acknowledged so far are."""
        target = self.counts()[0] + more
        wait_until(lambda: self._progress(0, target), timeout,
                   f"ingest to acknowledge {more} more events")

    def wait_refused(self, more=1, timeout=90):
        target = self.counts()[1] + more
        wait_until(lambda: self._progress(1, target), timeout,
                   f"ingest to refuse {more} more events while the fault lasts")

    def wait_answers(self, more, timeout=90):
        """Waits until ingest answered `more` more posts, whatever it said."""
        target = sum(self.counts()) + more
        wait_until(lambda: self._progress(0, 0) and sum(self.counts()) >= target, timeout,
                   f"ingest to answer {more} more posts")

    def stop(self):
        self.stopping.set()
        self.thread.join(120)
        assert not self.thread.is_alive(), "the load thread did not stop"
        assert self.failure is None, f"the load thread failed: {self.failure!r}"
        with self.lock:
            return list(self.acked)


def record(fault, counts):
    path = os.environ.get("PLACEHUB_RELIABILITY_REPORT")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(dict(kind="fault", fault=fault, **counts)) + "\n")


def account(fault, cluster, hub, partner_id, acked, timeout=120):
    """Waits until every acknowledged event reached the partner or the
    dead-letter topic (or the timeout), records the counts and fails on any
    loss. Also checks ingest's half of the promise: every acknowledged event
    is on its topic."""
    assert acked, f"{fault}: no event was acknowledged: the test proved nothing"
    ours = set(acked)
    partner = hub.partners[partner_id]

    def settled():
        delivered = {e["event_id"] for e in partner.delivered_events()} & ours
        if delivered == ours:
            return True
        dead = {h.get("placehub.event_id") for _, _, h in cluster.read_topic(
            hub.dead_letter_topic)}
        return ours <= delivered | dead

    try:
        wait_until(settled, timeout, f"{fault}: every acknowledged event delivered")
    except AssertionError:
        pass  # the counts below say what is missing
    delivered_list = [e["event_id"] for e in partner.delivered_events() if e["event_id"] in ours]
    delivered = set(delivered_list)
    dead = {h.get("placehub.event_id") for _, _, h in cluster.read_topic(hub.dead_letter_topic)}
    dead &= ours
    written = set()
    for topic in TOPICS:
        written |= {h.get("event_id") for _, _, h in cluster.read_topic(topic)}
    counts = dict(acknowledged=len(ours), delivered=len(delivered), dead_lettered=len(dead),
                  duplicates=len(delivered_list) - len(delivered),
                  lost=len(ours - delivered - dead), unwritten=len(ours - written))
    record(fault, counts)
    assert counts["unwritten"] == 0, f"{fault}: ingest acknowledged events not on Kafka: {counts}"
    assert counts["lost"] == 0, f"{fault}: acknowledged events lost: {counts}"
    return counts
