"""placehub benchmarks: every figure measured in this run, on this machine,
next to its ceiling measured in the same run.

  ingest     events/s accepted by placehub-ingest (HTTP in, validated, Avro
             encoded, acknowledged by the broker), closed loop with
             INGEST_IN_FLIGHT clients; next to the broker's own produce rate
             for the same payloads (bench/produce_baseline.c, librdkafka with
             ingest's settings); p50/p99 at a fixed offered load
             (bench/ingest_load.c, open loop: latency from the scheduled start)
  dispatch   events/s from Kafka to one simulated partner over loopback,
             next to plain libcurl multi POSTs of the same body to the same
             partner with the same number in flight (bench/curl_baseline.c);
             p50/p99 from the event's produce time to the partner receiving
             it, at a fixed offered load
  scale-out  one vs two dispatch instances in one consumer group, when the
             partner is the bottleneck per connection (slow answers)
  codec      Avro encode/decode per second per schema through placehub's
             codec (JSON <-> Avro), next to avro-c's own binary write/read of
             the same datum (bench/codec_bench.c)
  replay     events scanned per second by `placehub-ctl replay --nhs` over
             BENCH_REPLAY_EVENTS admission events (default 1,000,000) of which
             a known number are one person's, next to a bare librdkafka
             consumer reading the same topics to their end
             (bench/consumer_baseline.c); the replay's answer is checked
  governance dispatch's Kafka -> partner rate with the objection register and
             the disclosure ledger on, next to the same run's rate with both
             off (placehub-dispatch --without-register-and-ledger): the same
             BENCH_EVENTS preloaded admissions on a fresh broker per run,
             off and on interleaved BENCH_GOVERNANCE_RUNS times each
             (default 2), the median of each
  ledger     `placehub-ctl subject-access` over BENCH_LEDGER_RECORDS audit
             records (default 1,000,000; delivery receipts and suppressions
             shaped as dispatch writes them, about ten per person) of which
             a known number are one person's: the first run, which builds
             the ledger from the whole audit topic, and the run with the
             ledger current (median of five), next to a bare librdkafka
             consumer reading the audit topic to its end (what subject
             access would cost without the ledger); the answer is checked
  memory     peak resident size of each service; dispatch with ten partners

Run with `make bench` (which builds what it needs). Sizes: BENCH_EVENTS
(default 20000), BENCH_RATE (offered load for latency, default 200/s),
BENCH_SECONDS (latency runs, default 10), BENCH_REPLAY_EVENTS (default
1000000), BENCH_LEDGER_RECORDS (default 1000000). BENCH_ONLY runs only the
sections named (comma-separated, e.g. BENCH_ONLY=governance,ledger); the
default is every section.
"""
import contextlib
import datetime
import hashlib
import hmac
import io
import json
import os
import platform
import random
import shutil
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

import fastavro  # noqa: E402
from confluent_kafka import KafkaException, Producer  # noqa: E402
from confluent_kafka.admin import AdminClient  # noqa: E402

import events  # noqa: E402
from harness import BIN, TOPICS, Broker, Hub, wait_until  # noqa: E402

EVENTS = int(os.environ.get("BENCH_EVENTS", "20000"))
RATE = int(os.environ.get("BENCH_RATE", "200"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
IN_FLIGHT = 16
INGEST_IN_FLIGHT = 32
BATCH = 100           # events per POST /v1/events/{type}/batch
BATCH_IN_FLIGHT = 4
REPLAY_EVENTS = int(os.environ.get("BENCH_REPLAY_EVENTS", "1000000"))
REPLAY_PERSON_EVERY = 1000  # one event in this many is the chosen person's
GOVERNANCE_RUNS = int(os.environ.get("BENCH_GOVERNANCE_RUNS", "2"))
LEDGER_RECORDS = int(os.environ.get("BENCH_LEDGER_RECORDS", "1000000"))
LEDGER_PEOPLE = max(LEDGER_RECORDS // 10, 1)  # about ten audit records per person
LEDGER_PERSON_RECORDS = 40  # the chosen person's
LEDGER_CURRENT_RUNS = 5
# The hub's person key in the ledger section (governance.person_key, as
# env:BENCH_PERSON_KEY): the person_ref of every record is computed with it.
LEDGER_PERSON_KEY = "placehub-bench-person-key-not-for-real-data"
SECTIONS = ("codec", "ingest", "dispatch", "scale-out", "replay", "governance", "ledger",
            "memory")
TOOLS = os.path.join(REPO, os.environ.get("BUILD", "build"), "bench")
BASELINE = os.path.join(TOOLS, "curl_baseline")


def machine():
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores, {cpu}, {memory:.0f} GiB, {platform.system()} {platform.release()}"


def to_datum(schema, value, named):
    """Plain JSON (docs/schemas.md) to the datum fastavro writes."""
    if isinstance(schema, list):
        return None if value is None else to_datum(schema[1], value, named)
    if isinstance(schema, str):
        schema = named.get(schema, schema)
        if isinstance(schema, str):
            return value
    if "name" in schema:
        named[schema["name"]] = schema
        if "namespace" in schema:
            named[schema["namespace"] + "." + schema["name"]] = schema
    logical = schema.get("logicalType")
    if logical == "timestamp-millis":
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if logical == "date":
        return datetime.date.fromisoformat(value)
    if schema["type"] == "record":
        return {f["name"]: to_datum(f["type"], value.get(f["name"], f.get("default")), named)
                for f in schema["fields"]}
    if schema["type"] == "array":
        return [to_datum(schema["items"], item, named) for item in value]
    return value


class Encoder:
    """Confluent-framed admission events, encoded by fastavro."""

    def __init__(self):
        catalogue = json.load(open(os.path.join(REPO, "schemas", "catalogue.json")))["schemas"]
        entry = max((e for e in catalogue if e["subject"] == "admission-value"),
                    key=lambda e: e["version"])  # what ingest writes with
        self.schema_json = json.load(open(os.path.join(REPO, "schemas", entry["file"])))
        self.schema = fastavro.parse_schema(self.schema_json)
        self.header = b"\0" + struct.pack(">I", entry["id"])
        self.rng = random.Random(2026)

    def event(self):
        event = events.admission(self.rng, with_hub_fields=True)
        event["event_id"] = str(uuid.uuid4())
        return event

    def encode(self, event):
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, self.schema, to_datum(self.schema_json, event, {}))
        return self.header + buffer.getvalue()


def preload(broker, encoder, count):
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 20,
                         "enable.idempotence": True})
    for i in range(count):
        event = encoder.event()
        producer.produce("admission", key=event["person"]["nhs_number"].encode(),
                         value=encoder.encode(event),
                         headers=[("event_id", event["event_id"].encode())])
        if i % 1000 == 0:
            producer.poll(0)
    assert producer.flush(60) == 0, "preloading did not finish"


def produce_waiting(producer, topic, **message):
    """producer.produce, waiting while librdkafka's local queue is full
    (loading a million records outruns the broker)."""
    while True:
        try:
            producer.produce(topic, **message)
            return
        except BufferError:
            producer.poll(0.05)


def received_times(partner):
    return [datetime.datetime.fromisoformat(r["received_at"].replace("Z", "+00:00"))
            for r in partner.requests()]


def peak_rss_mb(process):
    with open(f"/proc/{process.popen.pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def bench_dispatch(broker, encoder):
    hub = Hub(broker, {"bench": ["admission"]}, start_dispatch=False,
              partner_options={"bench": {"max_in_flight": IN_FLIGHT}})
    try:
        partner = hub.partners["bench"]
        preload(broker, encoder, EVENTS)
        hub.start_dispatch()
        wait_until(lambda: partner.count() >= EVENTS, 600, f"{EVENTS} events delivered", 0.2)
        times = received_times(partner)
        dispatch_seconds = (max(times) - min(times)).total_seconds()
        dispatch_rate = (len(times) - 1) / dispatch_seconds
        dispatch_rss = peak_rss_mb(hub.dispatch)
        body = partner.requests()[0]["body"]
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            f.write(body)
        baseline = json.loads(subprocess.run(
            [BASELINE, f"{partner.url}/placehub/events", f.name, str(EVENTS), str(IN_FLIGHT)],
            capture_output=True, text=True, check=True, timeout=600).stdout)
        os.unlink(f.name)

        # Latency at a fixed offered load, dispatch idle before it starts.
        requests_before = partner.count()
        producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0,
                             "enable.idempotence": True})
        sent = {}
        began = time.monotonic()
        total = RATE * SECONDS
        for i in range(total):
            due = began + i / RATE
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            event = encoder.event()
            sent[event["event_id"]] = time.time()
            producer.produce("admission", key=event["person"]["nhs_number"].encode(),
                             value=encoder.encode(event),
                             headers=[("event_id", event["event_id"].encode())])
            producer.poll(0)
        producer.flush(30)
        wait_until(lambda: partner.count() >= requests_before + total, 120,
                   "latency events delivered", 0.2)
        latencies = []
        for record in partner.requests(since=requests_before):
            event_id = (record.get("json") or {}).get("event_id")
            if event_id in sent:
                received = datetime.datetime.fromisoformat(
                    record["received_at"].replace("Z", "+00:00")).timestamp()
                latencies.append((received - sent[event_id]) * 1000)
        latencies.sort()
        return {
            "dispatch_rate": dispatch_rate,
            "baseline_rate": baseline["per_second"],
            "p50": statistics.median(latencies),
            "p99": latencies[int(len(latencies) * 0.99) - 1],
            "latency_count": len(latencies),
            "rss_one_partner": dispatch_rss,
        }
    finally:
        hub.stop()


def bench_memory(broker, encoder):
    partners = {f"partner-{i}": ["admission"] for i in range(10)}
    hub = Hub(broker, partners)
    try:
        preload(broker, encoder, 5000)
        expected = broker.end_offsets(["admission"])
        for pid in partners:
            wait_until(lambda: broker.committed(hub.group(pid), ["admission"]) == expected, 600,
                       f"{pid} caught up", 0.5)
        return {"rss_ten_partners": peak_rss_mb(hub.dispatch)}
    finally:
        hub.stop()


@contextlib.contextmanager
def fresh_broker():
    """A broker of its own per section: no section sees another's events."""
    broker = Broker().start()
    try:
        yield broker
    finally:
        broker.destroy()


def tool(name, *args, timeout=900):
    """Runs a bench/ tool and returns the JSON lines it printed."""
    result = subprocess.run([os.path.join(TOOLS, name)] + [str(a) for a in args],
                            capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        sys.exit(f"bench: {name} failed ({result.returncode}):\n{result.stderr}{result.stdout}")
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def ingest_headers(hub):
    """The credentials of the harness's test publisher."""
    return [f"Authorization: Bearer {hub.default_key}"]


def bench_ingest(broker):
    hub = Hub(broker, {"bench": ["referral"]}, start_dispatch=False)
    try:
        rng = random.Random(8)
        samples = [events.make("admission", rng) for _ in range(2000)]
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
            f.writelines(json.dumps(event) + "\n" for event in samples)
            bodies = f.name
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
            for i in range(0, len(samples), BATCH):
                f.write(json.dumps(samples[i:i + BATCH]) + "\n")
            batches = f.name
        url = f"{hub.ingest_url}/v1/events/admission"
        headers = ingest_headers(hub)
        # The broker's JVM compiles its hot paths in the first seconds.
        tool("ingest_load", url, bodies, 5000, INGEST_IN_FLIGHT, 0, *headers)
        [closed] = tool("ingest_load", url, bodies, EVENTS, INGEST_IN_FLIGHT, 0, *headers)
        [batched] = tool("ingest_load", url + "/batch", batches, max(EVENTS // BATCH, 1),
                         BATCH_IN_FLIGHT, 0, *headers)
        [opened] = tool("ingest_load", url, bodies, RATE * SECONDS, INGEST_IN_FLIGHT, RATE,
                        *headers)
        entry = max((e for e in json.load(open(os.path.join(REPO, "schemas", "catalogue.json")))[
            "schemas"] if e["subject"] == "admission-value"), key=lambda e: e["version"])
        [produced] = tool("produce_baseline", broker.bootstrap, "admission",
                          os.path.join(REPO, "schemas", entry["file"]), entry["id"], bodies, EVENTS)
        os.unlink(bodies)
        os.unlink(batches)
        return {"ingest_rate": closed["per_second"], "produce_rate": produced["per_second"],
                "batch_rate": batched["per_second"] * BATCH,
                "ingest_p50": opened["p50_ms"], "ingest_p99": opened["p99_ms"],
                "rss_ingest": peak_rss_mb(hub.ingest), "rss_registry": peak_rss_mb(hub.registry)}
    finally:
        hub.stop()


def group_shared(admin, group, members):
    """Whether the consumer group has that many members, each assigned at
    least one partition."""
    try:
        description = admin.describe_consumer_groups([group])[group].result(timeout=10)
    except (KafkaException, TimeoutError):
        return False
    holding = [m for m in description.members
               if m.assignment and m.assignment.topic_partitions]
    return len(description.members) == members and len(holding) == members


def bench_scale_out(encoder):
    """The partner answers after 20 ms and each instance keeps 4 requests in
    flight: one instance tops out near 200 events/s; a second instance in
    the same consumer group takes half the partitions and its own 4."""
    count = int(os.environ.get("BENCH_SCALE_EVENTS", "2000"))
    rates = []
    for instances in (1, 2):
        with fresh_broker() as broker:
            # Six partitions, as config/placehub.yaml declares: two
            # instances take three each.
            hub = Hub(broker, {"bench": ["admission"]}, start_dispatch=False,
                      partner_options={"bench": {"max_in_flight": 4}}, partitions=6)
            try:
                partner = hub.partners["bench"]
                partner.behave(status=200, delay_ms=20)
                hub.start_dispatch()
                if instances == 2:
                    hub.start_another_dispatch("dispatch-2")
                # Sharing is what is measured, not joining: the events go in
                # once every instance holds partitions (a rebalance while
                # the run is short moved the figure between x1.4 and x2).
                admin = AdminClient({"bootstrap.servers": broker.bootstrap})
                wait_until(lambda: group_shared(admin, hub.group("bench"), instances), 60,
                           f"{instances} dispatch instance(s) holding partitions", 0.2)
                # Destroyed while its broker still runs: one destroyed after
                # the broker stopped hung the next section.
                del admin
                preload(broker, encoder, count)
                wait_until(lambda: partner.count() >= count, 600, f"{count} events delivered",
                           0.2)
                times = sorted(received_times(partner))
                # The steady part, between the 10th and 90th percentile
                # arrivals: start-up and the second instance joining the
                # group do not count.
                low, high = times[len(times) // 10], times[len(times) * 9 // 10]
                rates.append((len(times) * 0.8) / (high - low).total_seconds())
            finally:
                hub.stop()
    return {"scale_one": rates[0], "scale_two": rates[1]}


def replay_pools(encoder, person):
    """Distinct encoded events to produce cyclically (encoding a million
    with fastavro would take minutes): (key, value, headers) of others, none
    about person, and of person."""
    def encoded(event):
        return (event["person"]["nhs_number"].encode(), encoder.encode(event),
                [("event_id", event["event_id"].encode())])
    others = []
    while len(others) < 4000:
        event = encoder.event()
        if event["person"]["nhs_number"] != person:
            others.append(encoded(event))
    theirs = []
    for _ in range(50):
        event = encoder.event()
        event["person"]["nhs_number"] = person
        theirs.append(encoded(event))
    return others, theirs


def replay_load(broker, encoder, person, count):
    """Produces count admission events; returns how many are person's."""
    others, theirs = replay_pools(encoder, person)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 50,
                         "batch.size": 1000000, "queue.buffering.max.messages": 1000000,
                         "queue.buffering.max.kbytes": 1048576})
    expected = 0
    for i in range(count):
        if i % REPLAY_PERSON_EVERY == REPLAY_PERSON_EVERY // 2:
            key, value, headers = theirs[expected % len(theirs)]
            expected += 1
        else:
            key, value, headers = others[i % len(others)]
        produce_waiting(producer, "admission", key=key, value=value, headers=headers)
        if i % 10000 == 0:
            producer.poll(0)
    assert producer.flush(120) == 0, "loading the replay events did not finish"
    return expected


def timed(command, timeout=900, env=None):
    began = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    seconds = time.monotonic() - began
    if result.returncode != 0:
        sys.exit(f"bench: {os.path.basename(command[0])} failed ({result.returncode}):\n"
                 f"{result.stderr}{result.stdout}")
    return result.stdout, seconds


def bench_replay(broker, encoder):
    """placehub-ctl replay --nhs over every event topic, next to a bare
    consumer reading the same topics. Both are timed from the outside, start
    to exit (a run is under a second at 1M: noisy), after one untimed read
    that warms the broker; the best of three runs each, alternating."""
    hub = Hub(broker, {"bench": ["admission"]}, start_dispatch=False)
    try:
        person = events.nhs_number(random.Random(70))
        began = time.monotonic()
        expected = replay_load(broker, encoder, person, REPLAY_EVENTS)
        load_seconds = time.monotonic() - began
        total = sum(broker.end_offsets().values())
        assert total == REPLAY_EVENTS, f"{total} events on the topics, not {REPLAY_EVENTS}"
        output = os.path.join(hub.workdir, "replay.jsonl")
        replay = [os.path.join(BIN, "placehub-ctl"), "replay", "--nhs", person, "-q",
                  "-o", output, "-c", hub.config_path]
        baseline = [os.path.join(TOOLS, "consumer_baseline"), broker.bootstrap, *TOPICS]
        replay_seconds, baseline_seconds = [], []
        timed(baseline)
        for _ in range(3):
            stdout, seconds = timed(baseline)
            assert json.loads(stdout)["messages"] == total, f"baseline read {stdout}"
            baseline_seconds.append(seconds)
            _, seconds = timed(replay)
            replay_seconds.append(seconds)
            # The answer must be exact: every one of the person's events,
            # nothing else, each once. (The number itself is never printed.)
            lines = [json.loads(line) for line in open(output) if line.strip()]
            assert len(lines) == expected, f"replay found {len(lines)} events, not {expected}"
            assert all(line["value"]["person"]["nhs_number"] == person for line in lines), \
                "replay printed another person's event"
            assert len({(line["topic"], line["partition"], line["offset"])
                        for line in lines}) == expected, "replay printed an event twice"
        return {"replay_rate": total / min(replay_seconds),
                "replay_baseline_rate": total / min(baseline_seconds),
                "replay_events": total, "replay_matched": expected,
                "replay_load_seconds": load_seconds}
    finally:
        hub.stop()


def encoded_events(encoder, count):
    """count admission events, encoded once: each governance run loads the
    same bytes, so the runs differ only in the flag."""
    encoded = []
    for _ in range(count):
        event = encoder.event()
        encoded.append((event["person"]["nhs_number"].encode(), encoder.encode(event),
                        [("event_id", event["event_id"].encode())]))
    return encoded


def preload_encoded(broker, encoded):
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 20,
                         "enable.idempotence": True})
    for i, (key, value, headers) in enumerate(encoded):
        produce_waiting(producer, "admission", key=key, value=value, headers=headers)
        if i % 1000 == 0:
            producer.poll(0)
    assert producer.flush(60) == 0, "preloading did not finish"


def ledger_rows(path):
    """Rows in a disclosure ledger file (0 while it does not exist)."""
    if not os.path.exists(path):
        return 0
    with contextlib.closing(sqlite3.connect(path, timeout=10)) as db:
        try:
            return db.execute("SELECT count(*) FROM entry").fetchone()[0]
        except sqlite3.OperationalError:  # not laid out yet
            return 0


def cpu_seconds(process):
    """User and system CPU time a running process has used so far."""
    with open(f"/proc/{process.popen.pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def governance_run(encoded, with_state):
    """One dispatch run on a broker of its own, as bench_dispatch measures
    it: the events are on the topic before dispatch starts, and the rate is
    taken from the partner's arrival times. Returns (events/s, dispatch's
    CPU microseconds per event, seconds from the last arrival until the
    ledger held every receipt or None). The CPU time is steadier than the
    rate on a shared machine; with the ledger on it is read once the ledger
    holds every receipt, so the feed's work is in it."""
    count = len(encoded)
    with fresh_broker() as broker:
        hub = Hub(broker, {"bench": ["admission"]}, start_dispatch=False,
                  partner_options={"bench": {"max_in_flight": IN_FLIGHT}},
                  dispatch_args=[] if with_state else ["--without-register-and-ledger"])
        try:
            partner = hub.partners["bench"]
            preload_encoded(broker, encoded)
            hub.start_dispatch()
            wait_until(lambda: partner.count() >= count, 600, f"{count} events delivered", 0.2)
            delivered = time.monotonic()
            times = received_times(partner)
            rate = (len(times) - 1) / (max(times) - min(times)).total_seconds()
            ledger_lag = None
            if with_state:
                # The cost measured is the feed indexing every receipt: make
                # sure it did (harness: governance.ledger is ledger.db).
                ledger = os.path.join(hub.workdir, "ledger.db")
                wait_until(lambda: ledger_rows(ledger) >= count, 120,
                           f"the ledger to hold {count} receipts", 0.1)
                ledger_lag = time.monotonic() - delivered
            cpu = cpu_seconds(hub.dispatch) / count * 1e6
            return rate, cpu, ledger_lag
        finally:
            hub.stop()


def bench_governance(encoder):
    """Dispatch with the objection register and the disclosure ledger on
    (as it always runs) and off (--without-register-and-ledger), the same
    preloaded admissions each time, interleaved off, on, off, on... so a
    drift of the machine falls on both; the median of each."""
    encoded = encoded_events(encoder, EVENTS)
    runs = {False: [], True: []}  # with the register and ledger: [(events/s, CPU us/event)]
    lags = []
    for _ in range(GOVERNANCE_RUNS):
        for with_state in (False, True):
            rate, cpu, lag = governance_run(encoded, with_state)
            runs[with_state].append((rate, cpu))
            if lag is not None:
                lags.append(lag)
            print(f"bench: governance, register + ledger {'on' if with_state else 'off'}: "
                  f"{rate:.0f} events/s, dispatch CPU {cpu:.0f} us/event"
                  + (f", ledger complete {lag:.1f} s after the last delivery"
                     if lag is not None else ""), file=sys.stderr, flush=True)
    return {"state_on": statistics.median(rate for rate, _ in runs[True]),
            "state_off": statistics.median(rate for rate, _ in runs[False]),
            "state_on_cpu": statistics.median(cpu for _, cpu in runs[True]),
            "state_off_cpu": statistics.median(cpu for _, cpu in runs[False]),
            "state_on_runs": runs[True], "state_off_runs": runs[False],
            "ledger_lag": max(lags)}


def person_ref(key, nhs):
    """The person key (docs/governance.md "The person key")."""
    return hmac.new(key, b"nhs:" + nhs.encode(), hashlib.sha256).hexdigest()[:32]


# The envelope and person paths an agreement typically lets through, and
# what each event type adds: about twenty paths per receipt, as in
# docs/governance.md "Audit records".
LEDGER_ENVELOPE = ["correlation_id", "event_id", "event_type", "occurred_at", "priority",
                   "recorded_at", "schema_version", "source_ods_code", "person.address.lines",
                   "person.address.postcode", "person.date_of_birth", "person.family_name",
                   "person.given_name", "sharing.objected_to_non_care_sharing",
                   "sharing.restricted_record"]
LEDGER_TYPE_FIELDS = {
    "admission": ["admitted_at", "encounter_id", "site_ods_code", "ward"],
    "discharge": ["discharge_destination", "discharged_at", "encounter_id", "site_ods_code"],
    "referral": ["receiving_service.ods_code", "referral_id", "referrer.ods_code", "urgency"],
    "employment-support": ["programme", "provider.ods_code", "referral_id", "stage"],
}
# partner, agreement, the topics it gets, pseudonymised
LEDGER_PARTNERS = [
    ("stockport-homes", "stockport-homes-hospital-stays-2026", ["admission", "discharge"], True),
    ("adult-social-care", "asc-discharge-to-assess-2026", ["admission", "discharge"], False),
    ("leisure-trust", "leisure-trust-social-prescribing-2026", ["referral"], True),
    ("working-well", "working-well-employment-support-2026", ["employment-support", "referral"],
     True),
    ("gp-federation", "gp-federation-direct-care-2025", ["admission", "discharge", "referral"],
     False),
    ("housing-options", "housing-options-prevention-2026", ["discharge", "employment-support"],
     True),
]
LEDGER_SUPPRESSIONS = [
    ("objection", "the person objected to sharing beyond their care; the agreement is not for "
     "direct care"),
    ("condition", "postcode district not among the agreement's postcode_districts"),
    ("restricted", "the record is restricted and the agreement does not allow restricted "
     "records"),
    ("objection:national_data_opt_out", "the person is on the objection register "
     "(national_data_opt_out)"),
]


def ledger_routes():
    """Per partner and topic, the parts of its records that do not change:
    (partner, agreement, agreement_version, topic, fields as JSON,
    pseudonymised as JSON)."""
    routes = []
    for partner, agreement, topics, pseudonymised in LEDGER_PARTNERS:
        version = hashlib.sha256(agreement.encode()).hexdigest()[:12]
        for topic in topics:
            fields = sorted(LEDGER_ENVELOPE + LEDGER_TYPE_FIELDS[topic]
                            + ["person.pseudonym" if pseudonymised else "person.nhs_number"])
            routes.append((partner, agreement, version, topic,
                           json.dumps(fields, separators=(",", ":")),
                           "true" if pseudonymised else "false"))
    return routes


def ledger_load(broker, topic, key, chosen, count):
    """Writes count audit records to topic, delivery receipts (about 80%
    delivered, 2% dead-lettered) and suppressions, byte for byte as
    lib/delivery/record.c writes them, keyed by person_ref, completed_at in
    order; LEDGER_PERSON_RECORDS of them are about the NHS number chosen,
    the rest about LEDGER_PEOPLE - 1 others. Returns how many are chosen's."""
    rng = random.Random(1515)
    chosen_ref = person_ref(key, chosen)
    refs = {chosen_ref}
    while len(refs) < LEDGER_PEOPLE:
        refs.add(person_ref(key, events.nhs_number(rng)))
    refs.discard(chosen_ref)
    others = sorted(refs)
    routes = ledger_routes()
    offsets = {}  # (topic, partition) -> the next offset, for source
    every = max(count // LEDGER_PERSON_RECORDS, 1)
    at_ms = int(datetime.datetime(2026, 1, 5, tzinfo=datetime.timezone.utc).timestamp() * 1000)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 50,
                         "batch.size": 1000000, "queue.buffering.max.messages": 1000000,
                         "queue.buffering.max.kbytes": 1048576})
    expected = 0
    for i in range(count):
        if i % every == every // 2 and expected < LEDGER_PERSON_RECORDS:
            ref = chosen_ref
            expected += 1
        else:
            ref = others[rng.randrange(len(others))]
        partner, agreement, version, event_type, fields, pseudonymised = \
            routes[rng.randrange(len(routes))]
        partition = rng.randrange(6)
        offset = offsets.get((event_type, partition), 0)
        offsets[(event_type, partition)] = offset + 1
        at_ms += rng.randrange(5000)  # about 2.5 s apart: a million in a month
        at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at_ms // 1000)) + \
            f".{at_ms % 1000:03d}Z"
        event_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        source = (f'"source":{{"topic":"{event_type}","partition":{partition},'
                  f'"offset":{offset}}}')
        kind = rng.random()
        if kind < 0.82:
            outcome = ('"outcome":"delivered","status":200' if kind < 0.80 else
                       '"outcome":"dead_lettered","status":422')
            reason = "" if kind < 0.80 else ',"reason":"rejected: the partner answered 422"'
            record = (f'{{"record":"delivery","partner":"{partner}","event_id":"{event_id}",'
                      f'"event_type":"{event_type}",{source},{outcome},"attempts":1,'
                      f'"latency_ms":{rng.randrange(80, 900)},"completed_at":"{at}"{reason},'
                      f'"person_ref":"{ref}","agreement":"{agreement}",'
                      f'"agreement_version":"{version}","fields":{fields},'
                      f'"pseudonymised":{pseudonymised}}}')
        else:
            reason, detail = LEDGER_SUPPRESSIONS[rng.randrange(len(LEDGER_SUPPRESSIONS))]
            record = (f'{{"record":"suppression","partner":"{partner}","event_id":"{event_id}",'
                      f'"event_type":"{event_type}",{source},"person_ref":"{ref}",'
                      f'"agreement":"{agreement}","reason":"{reason}","detail":"{detail}",'
                      f'"at":"{at}"}}')
        produce_waiting(producer, topic, key=ref.encode(), value=record.encode())
        if i % 10000 == 0:
            producer.poll(0)
    assert producer.flush(120) == 0, "loading the audit records did not finish"
    return expected


def bench_ledger(broker):
    """placehub-ctl subject-access on a fresh ledger file (it is built from
    the whole audit topic), then again with the ledger current, next to a
    bare consumer reading the audit topic to its end. Everything is timed
    from the outside, start to exit; dispatch never runs (nothing to
    deliver, and its feed would build the hub's own ledger)."""
    env = {**os.environ, "BENCH_PERSON_KEY": LEDGER_PERSON_KEY}
    hub = Hub(broker, {"bench": ["admission"]}, start_dispatch=False,
              governance={"person_key": "env:BENCH_PERSON_KEY"},
              env={"BENCH_PERSON_KEY": LEDGER_PERSON_KEY})
    folder = tempfile.mkdtemp(prefix="placehub-bench-ledger-")
    try:
        # placehub-ingest creates the audit topic at start (with the
        # objections topic); the broker creates no topic on its own.
        assert broker.partition_ends([hub.audit_topic]), f"no topic {hub.audit_topic}"
        person = events.nhs_number(random.Random(15))
        began = time.monotonic()
        expected = ledger_load(broker, hub.audit_topic, LEDGER_PERSON_KEY.encode(), person,
                               LEDGER_RECORDS)
        load_seconds = time.monotonic() - began
        total = broker.end_offsets([hub.audit_topic])[hub.audit_topic]
        assert total == LEDGER_RECORDS, f"{total} audit records, not {LEDGER_RECORDS}"
        ledger = os.path.join(folder, "ledger.db")
        subject = [os.path.join(BIN, "placehub-ctl"), "subject-access", "--nhs", person,
                   "--format", "json", "-q", "--ledger", ledger, "-c", hub.config_path]
        baseline = [os.path.join(TOOLS, "consumer_baseline"), broker.bootstrap, hub.audit_topic]

        def check(stdout):
            # Exact: every one of the person's records, in time order.
            report = json.loads(stdout)
            entries = report["entries"]
            assert report["person_ref"] == person_ref(LEDGER_PERSON_KEY.encode(), person), \
                "subject-access computed another person reference"
            assert len(entries) == expected, \
                f"subject-access found {len(entries)} records, not {expected}"
            assert [e["at"] for e in entries] == sorted(e["at"] for e in entries), \
                "subject-access out of time order"

        timed(baseline)  # warms the broker, as bench_replay does
        stdout, first_seconds = timed(subject, env=env)
        check(stdout)
        rows = ledger_rows(ledger)
        assert rows == total, f"the ledger holds {rows} rows, not {total}"
        ledger_bytes = sum(os.path.getsize(os.path.join(folder, name))
                           for name in os.listdir(folder))
        current_seconds, scan_seconds = [], []
        for run in range(LEDGER_CURRENT_RUNS):
            stdout, seconds = timed(subject, env=env)
            check(stdout)
            current_seconds.append(seconds)
            if run < 3:
                stdout, seconds = timed(baseline)
                assert json.loads(stdout)["messages"] == total, f"baseline read {stdout}"
                scan_seconds.append(seconds)
        return {"ledger_records": total, "ledger_matched": expected,
                "ledger_load_seconds": load_seconds, "ledger_first": first_seconds,
                "ledger_current": statistics.median(current_seconds),
                "ledger_current_runs": current_seconds,
                "ledger_scan": statistics.median(scan_seconds),
                "ledger_bytes": ledger_bytes}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        hub.stop()


def bench_codec():
    rows = tool("codec_bench", os.path.join(REPO, "schemas"),
                os.path.join(REPO, "tests", "data"), os.environ.get("BENCH_CODEC_SECONDS", "1"))
    return {"codec": rows}


def sections():
    """The sections BENCH_ONLY names (comma-separated), every one without it."""
    only = [name.strip() for name in os.environ.get("BENCH_ONLY", "").split(",") if name.strip()]
    unknown = [name for name in only if name not in SECTIONS]
    if unknown:
        sys.exit(f"bench: BENCH_ONLY: no section {', '.join(unknown)}; "
                 f"the sections are {', '.join(SECTIONS)}")
    return set(only or SECTIONS)


def main():
    for path in (BASELINE, os.path.join(BIN, "placehub-dispatch")):
        if not os.path.exists(path):
            sys.exit(f"bench: {path} is missing: run `make bench`")
    chosen = sections()
    print(f"machine: {machine()}", flush=True)
    began = time.monotonic()
    figures = {}
    encoder = Encoder()
    # Each section: what it says while it runs, whether it needs a broker of
    # its own (no section sees another's events), and how it is measured.
    runs = {
        "codec": ("codec", False, lambda broker: bench_codec()),
        "ingest": ("ingest", True, bench_ingest),
        "dispatch": ("dispatch", True, lambda broker: bench_dispatch(broker, encoder)),
        "scale-out": ("scale-out", False, lambda broker: bench_scale_out(encoder)),
        "replay": ("replay", True, lambda broker: bench_replay(broker, encoder)),
        "governance": ("governance, register and ledger on vs off", False,
                       lambda broker: bench_governance(encoder)),
        "ledger": ("ledger, subject access", True, bench_ledger),
        "memory": ("memory, ten partners", True, lambda broker: bench_memory(broker, encoder)),
    }
    assert list(runs) == list(SECTIONS)
    for name in SECTIONS:
        if name not in chosen:
            continue
        label, own_broker, run = runs[name]
        print(f"bench: {label}", file=sys.stderr, flush=True)
        if own_broker:
            with fresh_broker() as broker:
                figures.update(run(broker))
        else:
            figures.update(run(None))
    rows = []
    if "ingest" in chosen:
        ingest_ratio = figures["ingest_rate"] / figures["produce_rate"]
        batch_ratio = figures["batch_rate"] / figures["produce_rate"]
        rows += [
            ("ingest, one event per POST (events/s)", f"{figures['ingest_rate']:.0f}",
             f"{figures['produce_rate']:.0f} librdkafka produce", f"{ingest_ratio:.0%}"),
            (f"ingest, batches of {BATCH} (events/s)", f"{figures['batch_rate']:.0f}",
             f"{figures['produce_rate']:.0f} librdkafka produce",
             f"{batch_ratio:.0%} (target >= 30%)"),
            (f"ingest p50 / p99 at {RATE}/s (ms)",
             f"{figures['ingest_p50']:.1f} / {figures['ingest_p99']:.1f}", "", ""),
        ]
    if "dispatch" in chosen:
        ratio = figures["dispatch_rate"] / figures["baseline_rate"]
        rows += [
            ("dispatch, Kafka -> partner (events/s)", f"{figures['dispatch_rate']:.0f}",
             f"{figures['baseline_rate']:.0f} plain curl multi", f"{ratio:.0%} (target >= 50%)"),
            (f"dispatch p50 / p99 at {RATE}/s (ms)",
             f"{figures['p50']:.1f} / {figures['p99']:.1f}", f"n={figures['latency_count']}", ""),
        ]
    if "governance" in chosen:
        state_ratio = figures["state_on"] / figures["state_off"]
        rows.append(("dispatch, register + ledger on vs off (events/s)",
                     f"{figures['state_on']:.0f}", f"{figures['state_off']:.0f} both off",
                     f"{state_ratio:.0%} (target >= 90%)"))
    if "scale-out" in chosen:
        scale = figures["scale_two"] / figures["scale_one"]
        rows.append(("scale-out, 20 ms partner: 2 vs 1 instance", f"{figures['scale_two']:.0f}",
                     f"{figures['scale_one']:.0f} one instance", f"x{scale:.2f} (ideal x2)"))
    if "replay" in chosen:
        replay_ratio = figures["replay_rate"] / figures["replay_baseline_rate"]
        rows.append((f"replay, scan {figures['replay_events'] / 1e6:g}M filtered by person "
                     "(events/s)", f"{figures['replay_rate']:.0f}",
                     f"{figures['replay_baseline_rate']:.0f} bare librdkafka consumer",
                     f"{replay_ratio:.0%} (target >= 70%)"))
    if "ledger" in chosen:
        records = figures["ledger_records"]
        scan = figures["ledger_scan"]
        first_rate = records / figures["ledger_first"]
        rows += [
            (f"subject access, {records / 1e6:g}M audit records, ledger current (s)",
             f"{figures['ledger_current']:.2f}", f"{scan:.2f} s full scan",
             f"{figures['ledger_current'] / scan:.0%} (target < 2 s)"),
            ("subject access, first run builds the ledger (s, records/s)",
             f"{figures['ledger_first']:.1f} / {first_rate:.0f}",
             f"{records / scan:.0f}/s full scan", f"{first_rate * scan / records:.0%}"),
            ("full scan of the audit topic (s)", f"{scan:.2f}", "bare librdkafka consumer", ""),
        ]
    for row in figures.get("codec", []):
        rows.append((f"codec {row['type']} encode / decode (k/s)",
                     f"{row['encode'] / 1000:.0f} / {row['decode'] / 1000:.0f}",
                     f"{row['avro_write'] / 1000:.0f} / {row['avro_read'] / 1000:.0f} avro-c",
                     f"{row['encode'] / row['avro_write']:.0%} / "
                     f"{row['decode'] / row['avro_read']:.0%}"))
    if "dispatch" in chosen:
        rows.append(("dispatch peak RSS, 1 partner (MB)", f"{figures['rss_one_partner']:.1f}",
                     "", ""))
    if "memory" in chosen:
        rows.append(("dispatch peak RSS, 10 partners (MB)", f"{figures['rss_ten_partners']:.1f}",
                     "64 MB", "OK" if figures["rss_ten_partners"] < 64 else "OVER"))
    if "ingest" in chosen:
        rows.append(("ingest / registry peak RSS (MB)",
                     f"{figures['rss_ingest']:.1f} / {figures['rss_registry']:.1f}", "64 MB",
                     "OK" if max(figures["rss_ingest"], figures["rss_registry"]) < 64 else "OVER"))
    width = max([46] + [len(row[0]) for row in rows])
    print(f"\n{'measure':{width}} {'placehub':>16} {'ceiling':>33} {'ratio':>20}")
    for row in rows:
        print(f"{row[0]:{width}} {row[1]:>16} {row[2]:>33} {row[3]:>20}")
    print(f"\n{EVENTS} events per throughput run; ingest {INGEST_IN_FLIGHT} clients, dispatch "
          f"{IN_FLIGHT} in flight; one simulated partner on loopback; "
          f"{time.monotonic() - began:.0f} s in all")
    if "governance" in chosen:
        off, on = (", ".join(f"{rate:.0f}" for rate, _ in figures[runs])
                   for runs in ("state_off_runs", "state_on_runs"))
        print(f"register + ledger, each run (events/s): off {off}; on {on}; dispatch CPU per "
              f"event (median): {figures['state_on_cpu']:.0f} us on, "
              f"{figures['state_off_cpu']:.0f} us off; the ledger held every receipt at most "
              f"{figures['ledger_lag']:.1f} s after the last delivery")
    if "ledger" in chosen:
        runs = ", ".join(f"{seconds:.2f}" for seconds in figures["ledger_current_runs"])
        print(f"subject access: {figures['ledger_matched']} of {figures['ledger_records']} audit "
              f"records are the person's, about {LEDGER_PEOPLE} people; ledger current, each "
              f"run (s): {runs}; ledger file {figures['ledger_bytes'] / 2**20:.0f} MB; loading "
              f"the records took {figures['ledger_load_seconds']:.0f} s")


if __name__ == "__main__":
    main()
