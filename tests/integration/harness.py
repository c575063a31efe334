"""Test harness: a real Kafka broker and placehub's own programs on loopback.

Everything runs on ports picked here and in a temporary folder, so tests are
hermetic and may run beside a developer's own stack. Nothing is left running:
every process started is stopped by the fixture that started it.
"""
import hashlib
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid

import requests

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.join(REPO, os.environ.get("BUILD", "build"), "bin")
DATA = os.path.join(REPO, "tests", "data")
TOPICS = ["admission", "discharge", "referral", "employment-support"]


_GIVEN = set()  # ports handed out already: not free for long, whatever bind says


def free_port():
    """A port that is free now and outside the kernel's ephemeral range, so
    no outgoing connection (Kafka clients make many) can take it before the
    program that is given it binds it."""
    low, high = 32768, 60999
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split())
    except OSError:
        pass
    candidates = [p for p in range(10000, 32000) if not low <= p <= high and p not in _GIVEN]
    for port in random.sample(candidates, 200):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            _GIVEN.add(port)
            return port
    raise RuntimeError("no free port found outside the ephemeral range")


def wait_until(condition, timeout, message, interval=0.05):
    """Polls condition() until it returns a true value; fails with message."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s: {message}")
        time.sleep(interval)


class Broker:
    """A real single-node KRaft broker started with scripts/kafka.sh."""

    def __init__(self, sasl_plain_users=None, properties=None):
        """sasl_plain_users: {user: password}; the client listener is then
        SASL_PLAINTEXT/PLAIN (scripts/kafka.sh KAFKA_SASL_PLAIN_USERS) and
        the test's own clients log in as the first user. properties: broker
        properties {name: value} added to (and overriding) the script's
        (KAFKA_EXTRA_PROPERTIES). Topic data goes to log_dir, inside
        data_dir."""
        self.port = free_port()
        self.controller_port = free_port()
        self.data_dir = tempfile.mkdtemp(prefix="placehub-kafka-")
        self.log_dir = os.path.join(self.data_dir, "data")  # scripts/kafka.sh's log.dirs
        self.properties = properties or {}
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.start_seconds = None
        self.sasl_plain_users = sasl_plain_users or {}
        self.client_config = {"bootstrap.servers": self.bootstrap}
        if self.sasl_plain_users:
            user, password = next(iter(self.sasl_plain_users.items()))
            self.client_config.update({"security.protocol": "SASL_PLAINTEXT",
                                       "sasl.mechanism": "PLAIN", "sasl.username": user,
                                       "sasl.password": password})

    def _env(self):
        env = dict(os.environ)
        env.update(KAFKA_PORT=str(self.port), KAFKA_CONTROLLER_PORT=str(self.controller_port),
                   KAFKA_DATA_DIR=self.data_dir)
        if self.properties:
            env["KAFKA_EXTRA_PROPERTIES"] = ",".join(f"{k}={v}" for k, v in self.properties.items())
        if self.sasl_plain_users:
            env["KAFKA_SASL_PLAIN_USERS"] = ",".join(
                f"{u}:{p}" for u, p in self.sasl_plain_users.items())
        return env

    def start(self):
        began = time.monotonic()
        result = subprocess.run([os.path.join(REPO, "scripts", "kafka.sh"), "start"],
                                env=self._env(), capture_output=True, text=True, timeout=180)
        if result.returncode != 0:
            raise RuntimeError(f"kafka did not start:\n{result.stdout}\n{result.stderr}")
        self.start_seconds = time.monotonic() - began
        return self

    def stop(self):
        subprocess.run([os.path.join(REPO, "scripts", "kafka.sh"), "stop"], env=self._env(),
                       capture_output=True, text=True, timeout=120)

    def running(self):
        """Whether the broker process of this data dir is alive."""
        return subprocess.run([os.path.join(REPO, "scripts", "kafka.sh"), "status"],
                              env=self._env(), capture_output=True, timeout=30).returncode == 0

    def destroy(self):
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def end_offsets(self, topics=TOPICS):
        """Sum of high watermarks per topic (events written so far)."""
        totals = {topic: 0 for topic in topics}
        for (topic, _), end in self.partition_ends(topics).items():
            totals[topic] += end
        return totals

    def partition_ends(self, topics=TOPICS):
        """High watermark of each partition: {(topic, partition): offset}."""
        from confluent_kafka import Consumer
        consumer = Consumer({**self.client_config,
                             "group.id": "placehub-test-watermarks",
                             "enable.auto.commit": False})
        try:
            ends = {}
            metadata = consumer.list_topics(timeout=10)
            for topic in topics:
                described = metadata.topics.get(topic)
                for partition in (described.partitions if described else []):
                    ends[(topic, partition)] = self._high_watermark(consumer, topic, partition)
            return ends
        finally:
            consumer.close()

    @staticmethod
    def _high_watermark(consumer, topic, partition):
        from confluent_kafka import KafkaException, TopicPartition
        # A topic created a moment ago may not have elected its leaders yet.
        deadline = time.monotonic() + 30
        while True:
            try:
                return consumer.get_watermark_offsets(TopicPartition(topic, partition),
                                                      timeout=10)[1]
            except KafkaException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def read_topic(self, topic, timeout=30):
        """Every message on topic from the beginning up to its current end:
        a list of (key, value, {header: value}) in partition order."""
        from confluent_kafka import Consumer, TopicPartition
        consumer = Consumer({**self.client_config,
                             "group.id": "placehub-test-reader-" + uuid.uuid4().hex,
                             "enable.auto.commit": False, "auto.offset.reset": "earliest"})
        try:
            metadata = consumer.list_topics(topic, timeout=10)
            if topic not in metadata.topics or metadata.topics[topic].error is not None:
                return []
            partitions = list(metadata.topics[topic].partitions)
            ends = {p: self._high_watermark(consumer, topic, p) for p in partitions}
            consumer.assign([TopicPartition(topic, p, 0) for p in partitions if ends[p] > 0])
            records, seen = [], {p: 0 for p in partitions}
            deadline = time.monotonic() + timeout
            while any(seen[p] < ends[p] for p in partitions):
                if time.monotonic() > deadline:
                    raise AssertionError(f"could not read {topic} to its end")
                message = consumer.poll(0.5)
                if message is None or message.error() is not None:
                    continue
                seen[message.partition()] = message.offset() + 1
                headers = {k: v.decode() if v is not None else None
                           for k, v in (message.headers() or [])}
                records.append((message.key(), message.value(), headers))
            return records
        finally:
            consumer.close()

    def committed(self, group, topics=TOPICS):
        """Committed offsets of a consumer group, summed per topic."""
        from confluent_kafka import Consumer, TopicPartition
        consumer = Consumer({**self.client_config, "group.id": group,
                             "enable.auto.commit": False})
        try:
            metadata = consumer.list_topics(timeout=10)
            wanted = [TopicPartition(t, p) for t in topics if t in metadata.topics
                      for p in metadata.topics[t].partitions]
            totals = {t: 0 for t in topics}
            for tp in self._committed_when_coordinated(consumer, wanted):
                if tp.offset >= 0:
                    totals[tp.topic] += tp.offset
            return totals
        finally:
            consumer.close()

    @staticmethod
    def _committed_when_coordinated(consumer, wanted, timeout=30):
        """consumer.committed, asked again while the group's coordinator is
        moving or loading (a new broker's first groups: NOT_COORDINATOR,
        COORDINATOR_LOAD_IN_PROGRESS), which says nothing of the offsets."""
        from confluent_kafka import KafkaError, KafkaException
        passing = {KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
                   KafkaError.COORDINATOR_NOT_AVAILABLE}
        deadline = time.monotonic() + timeout
        while True:
            try:
                return consumer.committed(wanted, timeout=10)
            except KafkaException as error:
                if error.args[0].code() not in passing or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


class Process:
    """One of placehub's programs, with its output captured to a file."""

    def __init__(self, name, args, workdir, env=None):
        self.name = name
        self.log_path = os.path.join(workdir, f"{name}.log")
        self.log = open(self.log_path, "wb")
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.popen = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                      cwd=REPO, env=full_env)

    def alive(self):
        return self.popen.poll() is None

    def output(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self, sig=signal.SIGTERM, timeout=30):
        # A test that kills with SIGKILL means to: that exit is no failure.
        self.killed_on_purpose = sig == signal.SIGKILL
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self.log.close()
        return self.popen.returncode


class Partner:
    """A simulated partner API (placehub-partner-sim)."""

    def __init__(self, name, workdir, arguments=()):
        """arguments: more of placehub-partner-sim's (e.g. --oauth-client)."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = Process(f"partner-{name}",
                               [os.path.join(BIN, "placehub-partner-sim"), "--listen",
                                f"127.0.0.1:{self.port}", "--name", name, *arguments], workdir)

    def ready(self):
        try:
            return requests.get(self.url + "/_sim/healthz", timeout=1).status_code == 200
        except requests.ConnectionError:
            return False

    def requests(self, since=0, limit=10**7):
        answer = requests.get(self.url + f"/_sim/requests?since={since}&limit={limit}",
                              timeout=60)
        answer.raise_for_status()
        return answer.json()["requests"]

    def count(self):
        answer = requests.get(self.url + "/_sim/requests?limit=0", timeout=10)
        return answer.json()["count"]

    def behave(self, **behaviour):
        answer = requests.put(self.url + "/_sim/behaviour", json=behaviour, timeout=10)
        answer.raise_for_status()

    def delivered_events(self):
        """Event bodies the partner answered 2xx to, in arrival order. A
        dripped answer ("drip_ms" in the record) never ends, so it delivered
        nothing whatever its status."""
        return [r["json"] for r in self.requests()
                if 200 <= r.get("status", 200) < 300 and "json" in r and "drip_ms" not in r]


# Every source_ods_code tests/integration/events.py and tests/data use: the
# default test publisher may send as any of them.
TEST_SOURCE_ODS_CODES = ["RXX", "P99001", "U99001", "NXX02"]
TEST_PUBLISHER = "test-publisher"


def new_api_key():
    """A key and its hash, as placehub-ingest --new-api-key makes them (the
    format is the hub's; the hash is computed here independently)."""
    key = "phk_" + secrets.token_urlsafe(32)
    return key, "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def publisher_yaml(partner_id, key_hash, publishes=None, source_ods_codes=None,
                   rate_limit=None, hashes_file=None, objections=False, mesh_mailbox=None):
    """A publish-only partner entry (an ingest: section, no connector);
    objections grants the right to record and withdraw objections;
    mesh_mailbox is the MESH mailbox it sends from (placehub-mesh-inbox)."""
    publishes = publishes or TOPICS
    source_ods_codes = source_ods_codes or TEST_SOURCE_ODS_CODES
    keys = (f'      api_key_hashes_file: "{hashes_file}"\n' if hashes_file
            else f'      api_key_hashes: ["{key_hash}"]\n')
    limit = ""
    if rate_limit:
        limit = ("      rate_limit: {" + ", ".join(f"{k}: {v}" for k, v in rate_limit.items())
                 + "}\n")
    return (f"  - id: {partner_id}\n    name: \"{partner_id} (test publisher)\"\n    ingest:\n"
            f"{keys}      publishes: [{', '.join(publishes)}]\n"
            f"      source_ods_codes: [{', '.join(source_ods_codes)}]\n{limit}"
            + ("      objections: true\n" if objections else "")
            + (f"      mesh_mailbox: {mesh_mailbox}\n" if mesh_mailbox else ""))


def schema_fields(topic):
    """Top-level field names of topic's latest schema, in schema order."""
    with open(os.path.join(REPO, "schemas", "catalogue.json")) as f:
        entries = [e for e in json.load(f)["schemas"] if e["subject"] == f"{topic}-value"]
    latest = max(entries, key=lambda e: e["version"])
    with open(os.path.join(REPO, "schemas", latest["file"])) as f:
        return [field["name"] for field in json.load(f)["fields"]]


def permissive_agreement(partner_id, topics):
    """An agreement that lets everything of topics through: every top-level
    field, direct care (objections do not stop it), restricted records. What
    tests that are not about governance give their partners, so they see
    events whole, as before agreements existed."""
    fields = []
    for topic in topics:
        fields += [f for f in schema_fields(topic) if f not in fields]
    return {"id": f"{partner_id}-test-everything", "purpose": "tests: every field",
            "legal_basis": "test data only", "event_types": list(topics), "fields": fields,
            "direct_care": True, "restricted_records": True}


def agreement_lines(agreements):
    """agreements (a list of dicts) as YAML under a partner: one flow
    mapping (JSON is YAML) per agreement."""
    if not agreements:
        return "    agreements: []\n"
    return "    agreements:\n" + "".join(f"      - {json.dumps(a)}\n" for a in agreements)


def write_config(path, broker, ingest_port, registry_port, partners, group_prefix,
                 produce_timeout_ms=10000, max_body_bytes=65536, registry_mode="embedded",
                 dispatch_settings=None, publishers="", kafka_extra="", ingest_extra="",
                 governance=None, extra_topics=(), extra_config="", partitions=3):
    """partners maps an id to (Partner, topics) or (Partner, topics, options);
    an option's value may be a function of the Partner, or a dict or list.
    options may hold "connector" and "agreements" (a list of dicts; without
    it, the partner gets permissive_agreement). publishers is YAML for
    publish-only partners (publisher_yaml). governance: the governance
    section as a dict, or None. extra_topics are declared too; extra_config
    is appended at the top level as is (e.g. an mllp: or operations: section)."""
    partner_lines = []
    for partner_id, spec in partners.items():
        partner, topics = spec[0], spec[1]
        options = {"url": f"{partner.url}/placehub/events", "timeout_ms": 5000}
        if len(spec) > 2:
            options.update(spec[2])
        connector = options.pop("connector", "webhook")
        agreements = options.pop("agreements", [permissive_agreement(partner_id, topics)])
        # A value may be a function of the partner (a URL on its port), and
        # a dict or list is written as a YAML flow mapping or list (JSON).
        options = {k: v(partner) if callable(v) else v for k, v in options.items()}
        option_lines = "".join(f'      {k}: {json.dumps(v)}\n' if isinstance(v, (dict, list))
                               else f'      {k}: "{v}"\n' for k, v in options.items())
        partner_lines.append(f"""  - id: {partner_id}
    name: "{partner_id} (simulated)"
    connector: {connector}
    topics: [{", ".join(topics)}]
    options:
{option_lines}{agreement_lines(agreements)}""")
    dispatch_lines = "".join(f"  {k}: {v}\n" for k, v in (dispatch_settings or {}).items())
    partner_list = "".join(partner_lines) + publishers
    partner_list = "\n" + partner_list if partner_list else " []\n"
    topics = "".join(f"""  - name: {t}
    partitions: {partitions}
    replication_factor: 1
    retention_ms: -1
""" for t in [*TOPICS, *extra_topics])
    with open(path, "w") as f:
        f.write(f"""kafka:
  bootstrap_servers: "{broker.bootstrap}"
{kafka_extra}schema_registry:
  mode: {registry_mode}
  schemas_dir: "{os.path.join(REPO, 'schemas')}"
  listen: "127.0.0.1:{registry_port}"
  url: "http://127.0.0.1:{registry_port}"
topics:
{topics}ingest:
  listen: "127.0.0.1:{ingest_port}"
  max_body_bytes: {max_body_bytes}
  produce_timeout_ms: {produce_timeout_ms}
{ingest_extra}dispatch:
  group_prefix: "{group_prefix}"
  retry_backoff_ms: 50
  retry_backoff_max_ms: 1000
  dead_letter_topic: "{group_prefix}.dead-letter"
  audit_topic: "{group_prefix}.audit"
{dispatch_lines}partners:{partner_list}""")
        # Each hub its own objection register: hubs of one module share a
        # broker, and one hub's objections must not reach another's dispatch.
        # Its own disclosure ledger too, in its folder.
        governance = {"objections_topic": f"{group_prefix}.objections",
                      "ledger": os.path.join(os.path.dirname(os.path.abspath(path)), "ledger.db"),
                      **(governance or {})}
        f.write("governance:\n" + "".join(f"  {k}: {json.dumps(v)}\n"
                                           for k, v in governance.items()))
        f.write(extra_config)


class Hub:
    """placehub's services on one broker: registry, ingest, dispatch, and
    simulated partners. partners maps a partner id to the topics it gets."""

    def __init__(self, broker, partners, produce_timeout_ms=10000, max_body_bytes=65536,
                 start_dispatch=True, registry_mode="embedded", partner_options=None,
                 dispatch_settings=None, publishers=None, kafka_extra="", ingest_extra="",
                 governance=None, env=None, extra_topics=(), extra_config="", partitions=3,
                 group_prefix=None, dispatch_args=(), partner_args=None):
        """partner_options maps a partner id to its options (and "connector",
        "agreements"); governance is the governance section; env holds extra
        environment variables for placehub's programs (keys named env:...);
        extra_topics and extra_config go to write_config; partner_args maps a
        partner id to more arguments for its placehub-partner-sim. publishers maps a
        publish-only partner id to publisher_yaml's keyword arguments; each
        gets a fresh key in self.keys. Without it there is one,
        TEST_PUBLISHER, allowed every type and every source_ods_code the test
        data uses: Hub.post sends its key."""
        self.broker = broker
        self.env = dict(env or {})
        self.dispatch_args = list(dispatch_args)  # e.g. the benchmark's --without-...
        self.workdir = tempfile.mkdtemp(prefix="placehub-hub-")
        self.keep_workdir = False  # set when the test failed: its logs are evidence
        # group_prefix: given when the topics named after it must exist
        # before the programs start (a mock cluster cannot create them).
        self.group_prefix = group_prefix or "test-" + uuid.uuid4().hex[:8]
        self.partners = {pid: Partner(pid, self.workdir, (partner_args or {}).get(pid, ()))
                         for pid in partners}
        self.partner_topics = {pid: list(topics) for pid, topics in partners.items()}
        self.ingest_port = free_port()
        self.registry_port = free_port()
        self.ingest_url = f"http://127.0.0.1:{self.ingest_port}"
        self.registry_url = f"http://127.0.0.1:{self.registry_port}"
        self.config_path = os.path.join(self.workdir, "placehub.yaml")
        partner_options = partner_options or {}
        if publishers is None:
            # Load tests send thousands of events at once: no practical limit.
            publishers = {TEST_PUBLISHER: {"rate_limit": {"events_per_second": 100000,
                                                          "burst": 100000}}}
        self.keys = {}
        publisher_lines = ""
        for publisher_id, rights in publishers.items():
            rights = dict(rights)
            key, key_hash = new_api_key()
            key = rights.pop("key", key)  # a key whose hash is in rights' hashes_file
            self.keys[publisher_id] = key
            publisher_lines += publisher_yaml(publisher_id, key_hash, **rights)
        self.default_key = self.keys.get(TEST_PUBLISHER)
        write_config(self.config_path, broker, self.ingest_port, self.registry_port,
                     {pid: (self.partners[pid], topics, partner_options.get(pid, {}))
                      for pid, topics in partners.items()},
                     self.group_prefix, produce_timeout_ms, max_body_bytes, registry_mode,
                     dispatch_settings, publisher_lines, kafka_extra, ingest_extra,
                     governance, extra_topics, extra_config, partitions)
        self.dead_letter_topic = f"{self.group_prefix}.dead-letter"
        self.audit_topic = f"{self.group_prefix}.audit"
        self.objections_topic = (governance or {}).get("objections_topic",
                                                       f"{self.group_prefix}.objections")
        self.processes = [p.process for p in self.partners.values()]
        self.registry = self._start("registry")
        self.ingest = self._start("ingest")
        self.dispatch = self._start("dispatch") if start_dispatch else None
        for partner in self.partners.values():
            wait_until(partner.ready, 20, f"partner simulator on {partner.url}")
        wait_until(lambda: self._healthy(self.ingest, self.ingest_url), 60,
                   "placehub-ingest to answer /healthz")
        wait_until(lambda: self._healthy(self.registry, self.registry_url), 20,
                   "placehub-registry to answer /healthz")

    def _start(self, program):
        # A restarted program gets a log of its own: the first one's is evidence.
        name, n = program, 1
        while any(p.name == name for p in self.processes):
            n += 1
            name = f"{program}-{n}"
        extra = self.dispatch_args if program == "dispatch" else []
        process = Process(name, [os.path.join(BIN, f"placehub-{program}"), "-c",
                                 self.config_path, *extra], self.workdir, env=self.env)
        self.processes.append(process)
        return process

    def start_program(self, program):
        """Another of placehub's programs (e.g. "mllp") on this hub's config."""
        return self._start(program)

    def start_dispatch(self):
        self.dispatch = self._start("dispatch")
        return self.dispatch

    def start_another_dispatch(self, name):
        """A second dispatch instance in the same consumer groups, with a
        disclosure ledger of its own (one process keeps a ledger file, as
        each instance on a host of its own would)."""
        config_path = os.path.join(self.workdir, f"placehub-{name}.yaml")
        with open(self.config_path) as f:
            text = f.read()
        ledger = json.dumps(os.path.join(self.workdir, "ledger.db"))
        assert ledger in text
        with open(config_path, "w") as f:
            f.write(text.replace(ledger, json.dumps(os.path.join(self.workdir,
                                                                 f"ledger-{name}.db"))))
        process = Process(name, [os.path.join(BIN, "placehub-dispatch"), "-c",
                                 config_path, *self.dispatch_args], self.workdir, env=self.env)
        self.processes.append(process)
        return process

    @staticmethod
    def _healthy(process, url):
        if not process.alive():
            raise AssertionError(f"{process.name} exited:\n{process.output()}")
        try:
            return requests.get(url + "/healthz", timeout=1).status_code == 200
        except requests.ConnectionError:
            return False

    def post(self, event_type, body, headers=None, key="default", **kwargs):
        """Posts as the default test publisher; key=None sends no
        credentials, key="..." that key instead."""
        sent_headers = {"Content-Type": "application/json"}
        if key == "default":
            key = self.default_key
        if key is not None:
            sent_headers["Authorization"] = f"Bearer {key}"
        sent_headers.update(headers or {})
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        return requests.post(f"{self.ingest_url}/v1/events/{event_type}", data=data,
                             headers=sent_headers, timeout=60, **kwargs)

    def group(self, partner_id):
        return f"{self.group_prefix}.{partner_id}"

    def logs(self):
        return {p.name: p.output() for p in self.processes}

    def positions(self):
        """Per partner, its consumer group's committed offsets next to the
        topics' ends, summed per topic: where a failed delivery test stood
        (stuck short of the end, or committed past events never sent)."""
        lines = []
        ends = self.broker.end_offsets()
        for pid, topics in self.partner_topics.items():
            committed = self.broker.committed(self.group(pid), topics)
            lines.append(f"{pid}: " + ", ".join(f"{t} committed {committed[t]} of {ends[t]}"
                                                for t in topics))
        return "\n".join(lines)

    def stop(self):
        """Stops every process; fails when one crashed, exited non-zero, or
        printed a sanitizer report (make test-asan runs the suite that way)."""
        problems = []
        for process in reversed(self.processes):
            already_stopped = process.log.closed
            code = process.popen.returncode if already_stopped else process.stop()
            output = process.output()
            reports = [line for line in output.splitlines()
                       if "ERROR: AddressSanitizer" in line or "runtime error:" in line
                       or "ERROR: LeakSanitizer" in line]
            if (code != 0 and not getattr(process, "killed_on_purpose", False)) or reports:
                problems.append(f"{process.name} exited {code}:\n" + "\n".join(
                    reports or output.splitlines()[-20:]))
        if not problems and not self.keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        assert not problems, "\n\n".join(problems) + f"\n(logs kept in {self.workdir})"
