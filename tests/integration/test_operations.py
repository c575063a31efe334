"""Operators' endpoints on a real broker: /metrics, /healthz and /readyz on
each service's operations listener, protected by the operations token; the
figures are the deliveries, suppressions and dead letters that happened,
each counted as what it was; the status pages of dispatch, ingest and mllp
render in headless Chromium and show what /metrics says; placehub-ctl status
reads circuit states and suppressions from dispatch."""
import html.parser
import json
import os
import random
import re
import shutil
import socket
import subprocess

import pytest
import requests

import events
from harness import BIN, REPO, free_port, permissive_agreement, wait_until

TOKEN = "ops-token-for-tests-0123456789"
CTL = os.path.join(BIN, "placehub-ctl")


def parse_metrics(text):
    """{(name, frozenset(labels.items())): value} from the Prometheus text format."""
    series = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = re.match(r'^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$', line)
        assert match, f"not a Prometheus line: {line!r}"
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        series[(match.group(1), frozenset(labels.items()))] = float(match.group(3))
    return series


def total(series, name, **labels):
    return sum(v for (n, l), v in series.items()
               if n == name and all((k, w) in l for k, w in labels.items()))


def operations_hub(make_hub, tmp_path, partners, services=("ingest", "dispatch"), **kwargs):
    token_file = tmp_path / "operations.token"
    token_file.write_text(TOKEN + "\n")
    ports = {name: free_port() for name in services}
    extra = (f"operations:\n"
             + "".join(f"  {name}_listen: \"127.0.0.1:{port}\"\n" for name, port in ports.items())
             + f"  token_file: \"{token_file}\"\n" + kwargs.pop("extra_config", ""))
    hub = make_hub(partners, extra_config=extra, **kwargs)
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    return hub, urls


def metrics(url):
    answer = requests.get(url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"},
                          timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return parse_metrics(answer.text)


def only_for(partner_id, topics):
    """partner_options giving partner_id an agreement for topics only: the
    events of its other topics are suppressed (reason no_agreement)."""
    return {partner_id: {"agreements": [permissive_agreement(partner_id, topics)]}}


def series(m, name, **labels):
    """The one series of name with exactly labels, or None."""
    return m.get((name, frozenset(labels.items())))


def test_metrics_health_and_token(make_hub, broker, tmp_path):
    # gp takes discharges, but no agreement covers them: each is suppressed.
    hub, urls = operations_hub(make_hub, tmp_path,
                               {"housing": ["admission"], "gp": ["admission", "discharge"]},
                               partner_options=only_for("gp", ["admission"]))
    wait_until(lambda: requests.get(urls["dispatch"] + "/readyz", timeout=2).status_code == 200,
               60, "dispatch ready")
    for url in urls.values():
        assert requests.get(url + "/healthz", timeout=5).status_code == 200
        assert requests.get(url + "/metrics", timeout=5).status_code == 401
        assert requests.get(url + "/metrics", timeout=5,
                            headers={"Authorization": "Bearer wrong-token-wrong-token"}
                            ).status_code == 401
        assert requests.get(url + "/status", timeout=5).status_code == 401
    # Partners' ingest port does not serve them.
    assert requests.get(hub.ingest_url + "/metrics", timeout=5).status_code == 404

    rng = random.Random(601)
    hub.partners["gp"].behave(status=422, times=1)
    for _ in range(4):
        assert hub.post("admission", events.make("admission", rng)).status_code == 202
    assert hub.post("discharge", events.make("discharge", rng)).status_code == 202
    assert hub.post("admission", {"nonsense": True}).status_code == 422
    ends = broker.end_offsets(["admission", "discharge"])
    for partner_id, topics in (("housing", ["admission"]), ("gp", ["admission", "discharge"])):
        wait_until(lambda: broker.committed(hub.group(partner_id), topics)
                   == {t: ends[t] for t in topics}, 60, f"{partner_id} caught up")

    m = metrics(urls["dispatch"])
    written = ends["admission"]
    assert total(m, "placehub_dispatch_events_in_total", partner="housing") == written
    assert total(m, "placehub_dispatch_events_out_total", partner="housing",
                 outcome="delivered") == written
    # Three outcomes, each counted as what it was: the 422 is the one dead
    # letter, the discharges are suppressed (not dead-lettered), the rest
    # delivered; together every event gp took.
    assert total(m, "placehub_dispatch_events_out_total", partner="gp",
                 outcome="dead_lettered") == 1
    assert total(m, "placehub_dispatch_dead_letters_total", partner="gp") == 1
    assert total(m, "placehub_dispatch_events_out_total", partner="gp",
                 outcome="suppressed") == ends["discharge"]
    assert total(m, "placehub_dispatch_events_out_total", partner="gp",
                 outcome="delivered") == ends["admission"] - 1
    assert series(m, "placehub_dispatch_suppressed_total", partner="gp", topic="discharge",
                  reason="no_agreement") == ends["discharge"]
    assert total(m, "placehub_dispatch_suppressed_total", partner="gp") == ends["discharge"]
    assert total(m, "placehub_dispatch_events_out_total", partner="gp") == \
        total(m, "placehub_dispatch_events_in_total", partner="gp") == \
        ends["admission"] + ends["discharge"]
    # A suppression is not a delivery: no latency observed for it.
    assert total(m, "placehub_dispatch_delivery_latency_seconds_count", partner="housing") \
        == written
    assert total(m, "placehub_dispatch_delivery_latency_seconds_count", partner="gp") \
        == ends["admission"]
    # Counters exist from the engine's start, at zero: a rate sees the first.
    assert series(m, "placehub_dispatch_dead_letters_total", partner="housing",
                  topic="admission") == 0
    assert series(m, "placehub_dispatch_events_out_total", partner="housing",
                  topic="admission", outcome="suppressed") == 0
    assert m[("placehub_dispatch_circuit_state", frozenset({("partner", "gp")}))] == 0
    # librdkafka statistics arrive every 5 s: lag, then, is known and zero.
    wait_until(lambda: total(metrics(urls["dispatch"]), "placehub_dispatch_consumer_lag",
                             partner="housing", topic="admission") == 0 and
               ("placehub_dispatch_consumer_lag",
                frozenset({("partner", "housing"), ("topic", "admission")}))
               in metrics(urls["dispatch"]), 30, "consumer lag from librdkafka statistics")
    assert total(metrics(urls["dispatch"]), "placehub_kafka_received_messages_total") > 0
    # Every Kafka handle with statistics says how many brokers it has up:
    # dispatch's consumers (client: the partner), ingest's producer.
    assert series(metrics(urls["dispatch"]), "placehub_kafka_brokers_up", client="gp") >= 1
    wait_until(lambda: (series(metrics(urls["ingest"]), "placehub_kafka_brokers_up",
                               client="placehub-ingest") or 0) >= 1, 30,
               "ingest's producer statistics")

    mi = metrics(urls["ingest"])
    assert total(mi, "placehub_ingest_requests_total", topic="admission",
                 outcome="accepted") == 4
    assert total(mi, "placehub_ingest_requests_total", topic="admission",
                 outcome="rejected") == 1
    assert total(mi, "placehub_ingest_events_total", topic="admission") == 4


def test_circuit_state_reaches_metrics_and_ctl_status(make_hub, broker, tmp_path):
    # housing takes employment-support events without an agreement for
    # them: suppressed, which ctl must show as such and not as dead letters.
    hub, urls = operations_hub(make_hub, tmp_path,
                               {"housing": ["referral", "employment-support"]},
                               partner_options=only_for("housing", ["referral"]),
                               dispatch_settings={"breaker_failures": 2,
                                                  "breaker_open_ms": 60000})
    rng = random.Random(602)
    for _ in range(2):
        assert hub.post("employment-support",
                        events.make("employment-support", rng)).status_code == 202
    topics = ["referral", "employment-support"]
    wait_until(lambda: broker.committed(hub.group("housing"), topics)
               == broker.end_offsets(topics), 60, "caught up")
    suppressed = total(metrics(urls["dispatch"]), "placehub_dispatch_suppressed_total",
                       partner="housing", reason="no_agreement")
    assert suppressed == broker.end_offsets(["employment-support"])["employment-support"] >= 2
    calm = subprocess.run([CTL, "status", "--json", "-c", hub.config_path],
                          capture_output=True, text=True, timeout=120)
    assert calm.returncode == 0, calm.stdout + calm.stderr
    [row] = json.loads(calm.stdout)["partners"]
    assert row["suppressed"] == {"no_agreement": suppressed}
    assert row["dead_letters"] == 0 and not row["attention"], "suppressed is not dead-lettered"
    human = subprocess.run([CTL, "status", "-c", hub.config_path], capture_output=True,
                           text=True, timeout=120).stdout
    header, housing_line = [line for line in human.splitlines()
                            if line.startswith(("PARTNER", "housing"))]
    assert "SUPPRESSED" in header
    assert f"{suppressed:g} (no_agreement {suppressed:g})" in housing_line, human

    hub.partners["housing"].behave(status=503)
    assert hub.post("referral", events.make("referral", rng)).status_code == 202
    state = ("placehub_dispatch_circuit_state", frozenset({("partner", "housing")}))
    wait_until(lambda: metrics(urls["dispatch"]).get(state) == 1, 30, "the circuit open")
    assert total(metrics(urls["dispatch"]), "placehub_dispatch_retries_total",
                 partner="housing") >= 2
    result = subprocess.run([CTL, "status", "--json", "-c", hub.config_path],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 3, result.stderr
    [row] = json.loads(result.stdout)["partners"]
    assert row["circuit"] == "open" and row["attention"] and row["lag"] >= 1
    assert row["suppressed"] == {"no_agreement": suppressed} and row["dead_letters"] == 0
    assert row["state"] == "circuit_open" and row["last_error"] == "HTTP 503"
    human = subprocess.run([CTL, "status", "-c", hub.config_path], capture_output=True,
                           text=True, timeout=120).stdout
    assert "NEEDS ATTENTION" in human and "open" in human
    # The reason is in status itself, not only in dispatch's log, and the hint
    # is what closes the circuit, not the dead letters there are none of.
    assert "housing: circuit open; last error: HTTP 503 at 20" in human, human
    assert "probe" in human and "dlq list" not in human, human
    hub.partners["housing"].behave(status=200)


class Cells(html.parser.HTMLParser):
    """A status page's table cells: {(table, row, metric): text}, and the
    sections shown."""

    def __init__(self):
        super().__init__()
        self.cells, self.current, self.updated, self.shown = {}, None, False, set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "td" and "data-metric" in attrs:
            self.current = (attrs["data-table"], attrs["data-row"], attrs["data-metric"])
            self.cells[self.current] = ""
        if attrs.get("id") == "updated" and attrs.get("data-ok") == "1":
            self.updated = True
        if tag == "section" and "hidden" not in attrs:
            self.shown.add(attrs["id"])

    def handle_data(self, data):
        if self.current:
            self.cells[self.current] += data

    def handle_endtag(self, tag):
        if tag == "td":
            self.current = None

    def number(self, table, row, metric):
        return float(self.cells[(table, row, metric)])


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def render(url, tmp_path):
    """url's status page as headless Chromium leaves it, once a rendering
    happened while the metrics stood still: (cells, metrics)."""
    page = requests.get(url + "/status", params={"token": TOKEN}, timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "<script src" not in page.text and "http://" not in page.text.replace(
        "http://www.w3.org/2000/svg", ""), "self-contained: nothing fetched from elsewhere"
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]

    def dump():
        profile = tmp_path / "chromium-profile"
        result = subprocess.run(
            [chromium(), "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-dev-shm-usage", f"--user-data-dir={profile}",
             "--virtual-time-budget=4000", "--dump-dom", f"{url}/status?token={TOKEN}"],
            capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr[-2000:]
        cells = Cells()
        cells.feed(result.stdout)
        return cells

    def consistent():
        before = metrics(url)
        cells = dump()
        after = metrics(url)
        return (cells, after) if before == after and cells.updated else None

    return wait_until(consistent, 120, f"a rendering of {url}/status while the metrics stood "
                      "still", interval=1)


def mllp_settings(port):
    """The mllp: section the HL7 samples were worked out for, on port."""
    with open(os.path.join(REPO, "tests", "data", "hl7", "mllp.yaml")) as f:
        return f.read().replace("mllp:\n", f'mllp:\n  listen: "127.0.0.1:{port}"\n', 1)


def send_hl7(port, name):
    """Sends tests/data/hl7/NAME.hl7 over MLLP; the ACK's MSA-1."""
    with open(os.path.join(REPO, "tests", "data", "hl7", name + ".hl7"), "rb") as f:
        message = f.read()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(b"\x0b" + message + b"\x1c\r")
        answer = b""
        while not answer.endswith(b"\x1c\r"):
            chunk = connection.recv(4096)
            assert chunk, f"connection closed before the ACK: {answer!r}"
            answer += chunk
    msa = next(s for s in answer[1:-2].decode().split("\r") if s.startswith("MSA|"))
    return msa.split("|")[1]


def test_status_pages_render_and_match_metrics(make_hub, broker, tmp_path):
    assert chromium(), "make test installs chromium (scripts/install-deps.sh --browser)"
    mllp_port = free_port()
    # gp takes referrals without an agreement for them: suppressed.
    hub, urls = operations_hub(make_hub, tmp_path,
                               {"housing": ["admission"], "gp": ["discharge", "referral"]},
                               services=("ingest", "dispatch", "mllp"),
                               partner_options=only_for("gp", ["discharge"]),
                               extra_topics=["hl7-raw"],
                               extra_config=mllp_settings(mllp_port))
    hub.start_program("mllp")
    rng = random.Random(603)
    hub.partners["gp"].behave(status=400, times=1)
    for event_type in ("admission", "admission", "discharge", "discharge", "referral"):
        assert hub.post(event_type, events.make(event_type, rng)).status_code == 202
    assert hub.post("discharge", {"nonsense": True}).status_code == 422
    ends = broker.end_offsets(["admission", "discharge", "referral"])
    for partner_id, topics in (("housing", ["admission"]), ("gp", ["discharge", "referral"])):
        wait_until(lambda: broker.committed(hub.group(partner_id), topics)
                   == {t: ends[t] for t in topics}, 60, f"{partner_id} caught up")

    # dispatch: delivered, suppressed and dead-lettered apart, reasons too.
    cells, m = render(urls["dispatch"], tmp_path)
    assert "dispatch" in cells.shown and "ingest" not in cells.shown
    for partner in ("housing", "gp"):
        def out(outcome):
            return total(m, "placehub_dispatch_events_out_total", partner=partner,
                         outcome=outcome)
        expected = {
            "in": total(m, "placehub_dispatch_events_in_total", partner=partner),
            "delivered": out("delivered"),
            "suppressed": out("suppressed"),
            "dead_lettered": out("dead_lettered"),
            "retries": total(m, "placehub_dispatch_retries_total", partner=partner),
            "lag": total(m, "placehub_dispatch_consumer_lag", partner=partner),
        }
        for metric, value in expected.items():
            assert cells.number("partners", partner, metric) == value, (partner, metric)
        assert cells.cells[("partners", partner, "circuit")] == "closed"
    assert cells.number("partners", "gp", "dead_lettered") == 1
    assert cells.number("partners", "gp", "suppressed") == ends["referral"] >= 1
    assert cells.number("partners", "gp", "delivered") == ends["discharge"] - 1
    assert cells.number("partners", "housing", "delivered") == ends["admission"]
    assert cells.number("partners", "housing", "suppressed") == 0
    assert cells.number("suppressed", "gp/no_agreement", "events") == ends["referral"]
    assert not any(row.startswith("housing/") for _, row, _ in cells.cells), \
        "no suppression row for a partner nothing was withheld from"

    # ingest: requests per topic and outcome, events per topic, and its
    # producer's brokers (statistics come every 5 s).
    wait_until(lambda: (series(metrics(urls["ingest"]), "placehub_kafka_brokers_up",
                               client="placehub-ingest") or 0) >= 1, 30,
               "ingest's producer statistics")
    cells, m = render(urls["ingest"], tmp_path)
    assert "ingest" in cells.shown and "dispatch" not in cells.shown
    for topic in ("admission", "discharge", "referral"):
        for outcome in ("accepted", "rejected", "unavailable"):
            assert cells.number("topics", topic, outcome) == total(
                m, "placehub_ingest_requests_total", topic=topic, outcome=outcome)
        assert cells.number("topics", topic, "events") == total(
            m, "placehub_ingest_events_total", topic=topic)
    assert cells.number("topics", "admission", "accepted") == 2
    assert cells.number("topics", "discharge", "rejected") == 1
    assert cells.number("topics", "discharge", "events") == 2
    assert cells.number("clients", "placehub-ingest", "brokers_up") >= 1

    # mllp: messages per outcome.
    assert send_hl7(mllp_port, "a01") == "AA"
    cells, m = render(urls["mllp"], tmp_path)
    assert "mllp" in cells.shown and "dispatch" not in cells.shown
    for outcome in ("accepted", "rejected", "error"):
        assert cells.number("messages", outcome, "messages") == total(
            m, "placehub_mllp_messages_total", outcome=outcome)
    assert cells.number("messages", "accepted", "messages") == 1
    assert cells.number("messages", "rejected", "messages") == 0
