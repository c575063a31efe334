"""The monitoring part of the Docker deployment agrees with itself and with
the code: Prometheus scrapes exactly the operations listeners the config
declares, on services that run those programs; Grafana's provisioned
datasource is the one the dashboard names; every metric the dashboard
queries is one the services export (lib/net/metrics.c). Read as data, no Docker
engine needed. Each check also runs on a broken copy, so none passes
vacuously."""
import copy
import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def load():
    return {
        "compose": yaml.safe_load((ROOT / "docker-compose.yml").read_text()),
        "config": yaml.safe_load((ROOT / "config" / "placehub.docker.yaml").read_text()),
        "prometheus": yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text()),
        "datasource": yaml.safe_load(
            (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yaml").read_text()),
        "dashboard": json.loads((ROOT / "deploy/grafana/dashboards/placehub.json").read_text()),
        "metrics_source": (ROOT / "lib" / "net" / "metrics.c").read_text(),
    }


PROGRAM_LISTEN = {"placehub-ingest": "ingest_listen", "placehub-dispatch": "dispatch_listen",
                  "placehub-mllp": "mllp_listen"}


def check_scrape_targets(d):
    problems = []
    targets = {t for job in d["prometheus"]["scrape_configs"]
               for sc in job.get("static_configs", []) for t in sc["targets"]}
    wanted = set()
    for name, svc in d["compose"]["services"].items():
        cmd = svc.get("command") or []
        key = PROGRAM_LISTEN.get(cmd[0] if cmd else None)
        listen = (d["config"].get("operations") or {}).get(key) if key else None
        if listen:
            wanted.add(f"{name}:{listen.rsplit(':', 1)[1]}")
    if targets != wanted:
        problems.append(f"prometheus targets {sorted(targets)} != operations listeners "
                        f"{sorted(wanted)}")
    prometheus = d["compose"]["services"].get("prometheus", {})
    mounts = [v["target"] for v in prometheus.get("volumes", []) if isinstance(v, dict)]
    if "/etc/prometheus/prometheus.yml" not in mounts:
        problems.append("prometheus does not mount deploy/prometheus/prometheus.yml")
    return problems


def check_grafana(d):
    problems = []
    uids = {ds["uid"] for ds in d["datasource"]["datasources"]}
    urls = {ds["url"] for ds in d["datasource"]["datasources"]}
    if "http://prometheus:9090" not in urls:
        problems.append("the datasource does not point at the prometheus service")
    for panel in d["dashboard"]["panels"]:
        for target in panel["targets"]:
            if target["datasource"]["uid"] not in uids:
                problems.append(f"panel {panel['title']!r} names an unprovisioned datasource")
    grafana = d["compose"]["services"].get("grafana", {})
    mounts = {v["target"] for v in grafana.get("volumes", []) if isinstance(v, dict)}
    for needed in ("/etc/grafana/provisioning", "/var/lib/grafana/dashboards"):
        if needed not in mounts:
            problems.append(f"grafana does not mount {needed}")
    return problems


def check_dashboard_metrics(d):
    exported = set(re.findall(r'"(placehub_[a-z_]+)"', d["metrics_source"]))
    problems = []
    for panel in d["dashboard"]["panels"]:
        for target in panel["targets"]:
            for name in re.findall(r"\b(placehub_[a-z_]+)", target["expr"]):
                base = re.sub(r"_(bucket|sum|count)$", "", name)
                if base not in exported:
                    problems.append(f"panel {panel['title']!r} queries {name}, not exported")
    return problems


def test_monitoring_files_agree():
    d = load()
    assert check_scrape_targets(d) == []
    assert check_grafana(d) == []
    assert check_dashboard_metrics(d) == []


def test_checks_catch_mistakes():
    d = load()
    broken = copy.deepcopy(d)
    broken["prometheus"]["scrape_configs"][1]["static_configs"][0]["targets"] = ["dispatch:9999"]
    assert check_scrape_targets(broken)
    broken = copy.deepcopy(d)
    broken["config"]["operations"]["dispatch_listen"] = "0.0.0.0:9333"
    assert check_scrape_targets(broken)
    broken = copy.deepcopy(d)
    broken["datasource"]["datasources"][0]["uid"] = "other"
    assert check_grafana(broken)
    broken = copy.deepcopy(d)
    broken["dashboard"]["panels"][0]["targets"][0]["expr"] = "rate(placehub_made_up_total[5m])"
    assert check_dashboard_metrics(broken)
