"""The monitoring part of the Docker deployment agrees with itself and with
the code: Prometheus scrapes exactly the operations listeners the config
declares, on services that run those programs; Grafana's provisioned
datasource is the one the dashboard names; every metric the dashboard
and the alert rules query is one the services export (lib/net/metrics.c);
every alert has a severity, a summary and a runbook that docs/operations.md
answers, and a firing and a quiet case among its promtool unit tests
(tests/prometheus/; `make test-alerts` runs them). Read as data, no Docker
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
        "alerts": yaml.safe_load((ROOT / "deploy/prometheus/placehub-alerts.yml").read_text()),
        "alert_tests": [yaml.safe_load(p.read_text())
                        for p in sorted((ROOT / "tests" / "prometheus").glob("*.test.yml"))],
        "operations_doc": (ROOT / "docs" / "operations.md").read_text(),
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


def alert_rules(d):
    return [rule for group in d["alerts"]["groups"] for rule in group["rules"] if "alert" in rule]


def check_alert_rules(d):
    exported = set(re.findall(r'"(placehub_[a-z_]+)"', d["metrics_source"]))
    problems = []
    for rule in alert_rules(d):
        name = rule["alert"]
        for metric in re.findall(r"\b(placehub_[a-z_]+)", rule["expr"]):
            if re.sub(r"_(bucket|sum|count)$", "", metric) not in exported:
                problems.append(f"{name} queries {metric}, not exported")
        if (rule.get("labels") or {}).get("severity") not in ("critical", "warning"):
            problems.append(f"{name}: severity is neither critical nor warning")
        annotations = rule.get("annotations") or {}
        if not annotations.get("summary"):
            problems.append(f"{name}: no summary")
        if not str(annotations.get("runbook", "")).startswith(f"docs/operations.md, Alerts: {name}"):
            problems.append(f"{name}: runbook does not point at its row of docs/operations.md")
        # Its row in the alerts table, and the sections its runbook names.
        if not re.search(rf"^\| `{name}` \|", d["operations_doc"], re.M):
            problems.append(f"{name}: no row in docs/operations.md's alerts table")
        then = re.search(r"\(then (.*)\)$", str(annotations.get("runbook", "")))
        for section in re.split(r", (?=\d\. )", then.group(1)) if then else []:
            if not re.search(rf"^## {re.escape(section)}$", d["operations_doc"], re.M):
                problems.append(f"{name}: runbook names a section docs/operations.md lacks: "
                                f"{section!r}")
    return problems


def check_alert_tests(d):
    """Each alert is tested firing (exp_alerts given) and quiet (empty)."""
    cases = {}
    for document in d["alert_tests"]:
        for test in document["tests"]:
            for case in test.get("alert_rule_test", []):
                cases.setdefault(case["alertname"], set()).add(bool(case.get("exp_alerts")))
    return [f"{rule['alert']}: tests/prometheus/ lacks a "
            f"{'firing' if True not in cases.get(rule['alert'], set()) else 'quiet'} case"
            for rule in alert_rules(d) if cases.get(rule["alert"], set()) != {True, False}]


def test_monitoring_files_agree():
    d = load()
    assert check_scrape_targets(d) == []
    assert check_grafana(d) == []
    assert check_dashboard_metrics(d) == []
    assert check_alert_rules(d) == []
    assert check_alert_tests(d) == []


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
    broken = copy.deepcopy(d)
    alert_rules(broken)[0]["expr"] = "placehub_made_up_state > 0"
    assert check_alert_rules(broken)
    broken = copy.deepcopy(d)
    del alert_rules(broken)[1]["labels"]["severity"]
    assert check_alert_rules(broken)
    broken = copy.deepcopy(d)
    alert_rules(broken)[2]["annotations"]["runbook"] = "ask someone"
    assert check_alert_rules(broken)
    broken = copy.deepcopy(d)
    broken["operations_doc"] = broken["operations_doc"].replace("| `PlacehubBrokerUnavailable` |", "")
    assert check_alert_rules(broken)
    broken = copy.deepcopy(d)
    broken["operations_doc"] = broken["operations_doc"].replace("## 2. See why", "## 2. Look")
    assert check_alert_rules(broken)
    broken = copy.deepcopy(d)
    for document in broken["alert_tests"]:
        for test in document["tests"]:
            test["alert_rule_test"] = [c for c in test.get("alert_rule_test", [])
                                       if c["alertname"] != "PlacehubNoEventsIngested"
                                       or not c.get("exp_alerts")]
    assert check_alert_tests(broken)
