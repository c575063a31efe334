"""Operators' endpoints on a real broker: /metrics, /healthz and /readyz on
each service's operations listener, protected by the operations token; the
figures are the deliveries that happened; the status page renders in
headless Chromium and shows what /metrics says; placehub-ctl status reads
circuit states from dispatch."""
import html.parser
import json
import os
import random
import re
import shutil
import subprocess

import pytest
import requests

import events
from harness import BIN, free_port, wait_until

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


def operations_hub(make_hub, tmp_path, partners, **kwargs):
    token_file = tmp_path / "operations.token"
    token_file.write_text(TOKEN + "\n")
    ports = {name: free_port() for name in ("ingest", "dispatch")}
    extra = (f"operations:\n"
             f"  ingest_listen: \"127.0.0.1:{ports['ingest']}\"\n"
             f"  dispatch_listen: \"127.0.0.1:{ports['dispatch']}\"\n"
             f"  token_file: \"{token_file}\"\n")
    hub = make_hub(partners, extra_config=extra, **kwargs)
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    return hub, urls


def metrics(url):
    answer = requests.get(url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"},
                          timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return parse_metrics(answer.text)


def test_metrics_health_and_token(make_hub, broker, tmp_path):
    hub, urls = operations_hub(make_hub, tmp_path,
                               {"housing": ["admission"], "gp": ["admission", "discharge"]})
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
    assert total(m, "placehub_dispatch_events_out_total", partner="gp",
                 outcome="dead_lettered") == 1
    assert total(m, "placehub_dispatch_dead_letters_total", partner="gp") == 1
    assert total(m, "placehub_dispatch_events_out_total", partner="gp") == \
        ends["admission"] + ends["discharge"]
    assert total(m, "placehub_dispatch_delivery_latency_seconds_count", partner="housing") \
        == written
    assert m[("placehub_dispatch_circuit_state", frozenset({("partner", "gp")}))] == 0
    # librdkafka statistics arrive every 5 s: lag, then, is known and zero.
    wait_until(lambda: total(metrics(urls["dispatch"]), "placehub_dispatch_consumer_lag",
                             partner="housing", topic="admission") == 0 and
               ("placehub_dispatch_consumer_lag",
                frozenset({("partner", "housing"), ("topic", "admission")}))
               in metrics(urls["dispatch"]), 30, "consumer lag from librdkafka statistics")
    assert total(metrics(urls["dispatch"]), "placehub_kafka_received_messages_total") > 0

    mi = metrics(urls["ingest"])
    assert total(mi, "placehub_ingest_requests_total", topic="admission",
                 outcome="accepted") == 4
    assert total(mi, "placehub_ingest_requests_total", topic="admission",
                 outcome="rejected") == 1
    assert total(mi, "placehub_ingest_events_total", topic="admission") == 4


def test_circuit_state_reaches_metrics_and_ctl_status(make_hub, broker, tmp_path):
    hub, urls = operations_hub(make_hub, tmp_path, {"housing": ["referral"]},
                               dispatch_settings={"breaker_failures": 2,
                                                  "breaker_open_ms": 60000})
    wait_until(lambda: broker.committed(hub.group("housing"), ["referral"])
               == broker.end_offsets(["referral"]), 60, "caught up")
    hub.partners["housing"].behave(status=503)
    assert hub.post("referral", events.make("referral", random.Random(602))).status_code == 202
    state = ("placehub_dispatch_circuit_state", frozenset({("partner", "housing")}))
    wait_until(lambda: metrics(urls["dispatch"]).get(state) == 1, 30, "the circuit open")
    assert total(metrics(urls["dispatch"]), "placehub_dispatch_retries_total",
                 partner="housing") >= 2
    result = subprocess.run([CTL, "status", "--json", "-c", hub.config_path],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 3, result.stderr
    [row] = json.loads(result.stdout)["partners"]
    assert row["circuit"] == "open" and row["attention"] and row["lag"] >= 1
    human = subprocess.run([CTL, "status", "-c", hub.config_path], capture_output=True,
                           text=True, timeout=120).stdout
    assert "NEEDS ATTENTION" in human and "open" in human
    hub.partners["housing"].behave(status=200)


class Cells(html.parser.HTMLParser):
    """The status page's table cells: {(partner, metric): text}."""

    def __init__(self):
        super().__init__()
        self.cells, self.current, self.updated = {}, None, False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "td" and "data-metric" in attrs:
            self.current = (attrs["data-partner"], attrs["data-metric"])
            self.cells[self.current] = ""
        if attrs.get("id") == "updated" and attrs.get("data-ok") == "1":
            self.updated = True

    def handle_data(self, data):
        if self.current:
            self.cells[self.current] += data

    def handle_endtag(self, tag):
        if tag == "td":
            self.current = None


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.mark.skipif(chromium() is None and os.environ.get("CI") != "true",
                    reason="headless Chromium not installed (scripts/install-deps.sh installs it)")
def test_status_page_renders_and_matches_metrics(make_hub, broker, tmp_path):
    assert chromium(), "CI installs chromium (scripts/install-deps.sh --browser)"
    hub, urls = operations_hub(make_hub, tmp_path,
                               {"housing": ["admission"], "gp": ["discharge"]})
    rng = random.Random(603)
    hub.partners["gp"].behave(status=400, times=1)
    for event_type in ("admission", "admission", "discharge", "discharge"):
        assert hub.post(event_type, events.make(event_type, rng)).status_code == 202
    ends = broker.end_offsets(["admission", "discharge"])
    for partner_id, topic in (("housing", "admission"), ("gp", "discharge")):
        wait_until(lambda: broker.committed(hub.group(partner_id), [topic])
                   == {topic: ends[topic]}, 60, f"{partner_id} caught up")

    page = requests.get(urls["dispatch"] + "/status", params={"token": TOKEN}, timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "<script src" not in page.text and "http://" not in page.text.replace(
        "http://www.w3.org/2000/svg", ""), "self-contained: nothing fetched from elsewhere"
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]

    def render():
        profile = tmp_path / "chromium-profile"
        result = subprocess.run(
            [chromium(), "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-dev-shm-usage", f"--user-data-dir={profile}",
             "--virtual-time-budget=4000", "--dump-dom",
             f"{urls['dispatch']}/status?token={TOKEN}"],
            capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr[-2000:]
        cells = Cells()
        cells.feed(result.stdout)
        return cells

    def consistent():
        before = metrics(urls["dispatch"])
        cells = render()
        after = metrics(urls["dispatch"])
        return (cells, after) if before == after and cells.updated else None

    cells, m = wait_until(consistent, 120, "a rendering while the metrics stood still",
                          interval=1)
    for partner in ("housing", "gp"):
        expected = {
            "in": total(m, "placehub_dispatch_events_in_total", partner=partner),
            "delivered": total(m, "placehub_dispatch_events_out_total", partner=partner,
                               outcome="delivered"),
            "dead_lettered": total(m, "placehub_dispatch_events_out_total", partner=partner,
                                   outcome="dead_lettered"),
            "retries": total(m, "placehub_dispatch_retries_total", partner=partner),
            "lag": total(m, "placehub_dispatch_consumer_lag", partner=partner),
        }
        for metric, value in expected.items():
            assert float(cells.cells[(partner, metric)]) == value, (partner, metric)
        assert cells.cells[(partner, "circuit")] == "closed"
    assert float(cells.cells[("gp", "dead_lettered")]) == 1
    assert float(cells.cells[("housing", "delivered")]) == ends["admission"]
