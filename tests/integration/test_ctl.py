"""placehub-ctl on a real broker: tail decodes every event type, a replay of
a time window yields exactly what ingest accepted in it, a replay by person
exactly that person's events, redelivery to one
partner moves no consumer group, dead letters are listed, explained and
redriven, and `audit person` lists exactly what the simulated partners
received about that person."""
import csv
import io
import json
import os
import random
import subprocess
import time

import events
from harness import BIN, REPO, TOPICS, schema_fields, wait_until

CTL = os.path.join(BIN, "placehub-ctl")
CATALOGUE = json.load(open(os.path.join(REPO, "schemas", "catalogue.json")))["schemas"]


def ctl(hub, *args, check=None):
    """Runs placehub-ctl against hub's configuration; returns the result.
    check: the exit code expected."""
    command = [CTL, *args, "-c", hub.config_path]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if check is not None:
        assert result.returncode == check, (
            f"{' '.join(args)} exited {result.returncode}, not {check}:\n"
            f"{result.stdout}\n{result.stderr}")
    return result


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def post(hub, event_type, rng, nhs=None):
    answer = hub.post(event_type, events.make(event_type, rng, nhs=nhs))
    assert answer.status_code == 202, answer.text
    return answer.json()["event_id"]


def now_ms():
    return time.time_ns() // 1_000_000


def boundary():
    """A millisecond after everything acknowledged so far and before
    anything sent next: wait for the clock to move on, on both sides."""
    mark = now_ms() + 1
    wait_until(lambda: now_ms() > mark, 5, "the clock to move on")
    return mark


def caught_up(hub, broker, partner_id, topics):
    ends = broker.end_offsets(topics)
    wait_until(lambda: broker.committed(hub.group(partner_id), topics) == ends, 60,
               f"{partner_id} to catch up")


def test_help_and_exit_codes(make_hub, tmp_path):
    hub = make_hub({"housing": ["admission"]}, start_dispatch=False)
    for sub in ["status", "tail", "dlq", "replay", "audit", "schemas", "topics"]:
        result = subprocess.run([CTL, sub, "--help"], capture_output=True, text=True)
        assert result.returncode == 0 and "Usage: placehub-ctl " + sub in result.stdout
        assert "Exit codes" in result.stdout
    assert subprocess.run([CTL, "--help"], capture_output=True, text=True).returncode == 0
    assert subprocess.run([CTL, "frobnicate"], capture_output=True).returncode == 2
    assert ctl(hub, "replay", "--from", "yesterday-ish").returncode == 2
    bad = ctl(hub, "audit", "person", "9990000001")
    assert bad.returncode == 2 and "NHS_NUMBER" in bad.stderr
    # replay --nhs is checked like every NHS number ctl takes: a mistyped
    # one is refused with the check that failed, before anything is read.
    bad = ctl(hub, "replay", "--nhs", "9990123455")
    assert bad.returncode == 2
    assert "--nhs is not a valid NHS number: the check digit (the 10th) does not match" \
        in bad.stderr
    assert "9990123455" not in bad.stderr
    bad = ctl(hub, "replay", "--nhs", "999 012-3454")
    assert bad.returncode == 2 and "mixes spaces and hyphens" in bad.stderr

    # schemas check: a required field added without a default breaks readers.
    # A candidate is checked against the subject's latest version; one
    # already in the catalogue against the version before it (never itself).
    latest = {e["subject"]: e for e in sorted(CATALOGUE, key=lambda e: e["version"])}
    admission = latest["admission-value"]
    admission_path = os.path.join(REPO, "schemas", admission["file"])
    with open(admission_path) as f:
        schema = json.load(f)
    result = ctl(hub, "schemas", "check", admission_path, check=0)
    assert f"admission-value version {admission['version'] - 1}" in result.stdout
    first = ctl(hub, "schemas", "check", os.path.join(REPO, "schemas", "admission.v1.avsc"),
                check=0)
    assert "nothing earlier to check it against" in first.stdout
    # Version 2 adds supersedes_event_id with a default: it reads version 1.
    with open(os.path.join(REPO, "schemas", "admission.v1.avsc")) as f:
        version_1 = json.load(f)
    assert [f["name"] for f in schema["fields"] if f["name"] not in
            {g["name"] for g in version_1["fields"]}][:1] == ["supersedes_event_id"]
    schema["fields"].append({"name": "bed_number", "type": "string"})
    broken = tmp_path / f"admission.v{admission['version'] + 1}.avsc"
    broken.write_text(json.dumps(schema))
    result = ctl(hub, "schemas", "check", str(broken), check=4)
    assert "bed_number" in result.stdout
    schema["fields"][-1]["default"] = ""
    broken.write_text(json.dumps(schema))
    ctl(hub, "schemas", "check", str(broken), check=0)
    [shown] = json_lines(ctl(hub, "schemas", "show", "discharge-value", "--json", check=0).stdout)
    discharge = latest["discharge-value"]
    assert shown["id"] == discharge["id"] and shown["version"] == discharge["version"]
    assert "DischargeEvent" in shown["schema"]
    [first] = json_lines(ctl(hub, "schemas", "show", "discharge-value", "1", "--json",
                             check=0).stdout)
    assert first["id"] == 2 and "supersedes_event_id" not in first["schema"]


def test_tail_decodes_all_four_types(make_hub):
    hub = make_hub({"housing": ["admission"]}, start_dispatch=False)
    rng = random.Random(501)
    sent = {}
    for event_type in TOPICS:
        event = events.make(event_type, rng)
        answer = hub.post(event_type, event)
        assert answer.status_code == 202, answer.text
        sent[event_type] = (answer.json()["event_id"], event)
    for event_type, (event_id, event) in sent.items():
        lines = json_lines(ctl(hub, "tail", event_type, "-n", "5", "--json", check=0).stdout)
        [ours] = [l for l in lines if l["value"].get("event_id") == event_id]
        assert ours["topic"] == event_type and ours["schema_id"] >= 1
        assert ours["headers"]["event_id"] == event_id
        decoded = ours["value"]
        for field in ("occurred_at", "source_ods_code", "priority", "person"):
            assert decoded[field] == event[field], field


def test_replay_of_a_time_window_is_exactly_what_ingest_accepted(make_hub, tmp_path):
    hub = make_hub({"housing": ["admission"]}, start_dispatch=False)
    rng = random.Random(502)
    before = [post(hub, TOPICS[i % 4], rng) for i in range(6)]
    start = boundary()
    inside = [post(hub, TOPICS[i % 4], rng) for i in range(9)]
    end = boundary()
    after = [post(hub, TOPICS[i % 4], rng) for i in range(6)]

    lines = json_lines(ctl(hub, "replay", "--from", str(start), "--to", str(end), "-q",
                           check=0).stdout)
    got = [l["value"]["event_id"] for l in lines]
    assert sorted(got) == sorted(inside), "exactly the window's events, each once"
    assert not set(got) & (set(before) | set(after))

    # The same window by RFC 3339 text, one type, to CSV.
    def rfc3339(ms):
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"
    out = tmp_path / "discharges.csv"
    ctl(hub, "replay", "--from", rfc3339(start), "--to", rfc3339(end), "--type", "discharge",
        "--format", "csv", "-o", str(out), check=0)
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    expected = [i for n, i in enumerate(inside) if TOPICS[n % 4] == "discharge"]
    assert sorted(r["event_id"] for r in rows) == sorted(expected)
    assert all(r["topic"] == "discharge" and len(r["nhs_number"]) == 10 for r in rows)

    # By offsets: one event's own coordinates give that event alone.
    one = lines[0]
    spec = f"{one['topic']}:{one['partition']}:{one['offset']}-{one['offset'] + 1}"
    [again] = json_lines(ctl(hub, "replay", "--offsets", spec, check=0).stdout)
    assert again["value"]["event_id"] == one["value"]["event_id"]

    # Nothing in a window before anything was written: exit 3.
    assert ctl(hub, "replay", "--from", "1000000000000", "--to", "1000000000001").returncode == 3


def test_replay_by_person_is_exact_even_where_the_digits_occur_elsewhere(make_hub):
    """replay --nhs passes over events without the number's bytes undecoded;
    one that holds them in another field is decoded and compared, not taken."""
    hub = make_hub({"housing": ["admission"]}, start_dispatch=False)
    rng = random.Random(504)
    person = events.nhs_number(rng)
    ours = [post(hub, event_type, rng, nhs=person) for event_type in TOPICS]
    post(hub, "admission", rng)  # someone else
    decoy = events.make("admission", rng)
    decoy["ward"] = f"Ward {person}"
    assert decoy["person"]["nhs_number"] != person
    answer = hub.post("admission", decoy)
    assert answer.status_code == 202, answer.text

    lines = json_lines(ctl(hub, "replay", "--nhs", person, "-q", check=0).stdout)
    assert sorted(l["value"]["event_id"] for l in lines) == sorted(ours)
    assert all(l["value"]["person"]["nhs_number"] == person for l in lines)
    # Typed as on the NHS card, spaced or hyphenated: the same events. The
    # summary goes to stderr though it is a pipe here, not a terminal.
    spaced = f"{person[:3]} {person[3:6]} {person[6:]}"
    result = ctl(hub, "replay", "--nhs", spaced, check=0)
    assert sorted(l["value"]["event_id"] for l in json_lines(result.stdout)) == sorted(ours)
    assert "4 events matched of " in result.stderr
    result = ctl(hub, "replay", "--nhs", spaced.replace(" ", "-"), "-q", check=0)
    assert len(json_lines(result.stdout)) == 4 and result.stderr == ""
    rows = list(csv.DictReader(io.StringIO(
        ctl(hub, "replay", "--nhs", person, "--type", "admission", "--format", "csv", "-q",
            check=0).stdout)))
    assert [r["event_id"] for r in rows] == [ours[TOPICS.index("admission")]]


def test_redelivery_to_one_partner_moves_no_consumer_group(make_hub, broker):
    hub = make_hub({"housing": ["admission"], "gp": ["admission", "discharge"]})
    rng = random.Random(503)
    person = events.nhs_number(rng)
    for partner_id, topics in (("housing", ["admission"]), ("gp", ["admission", "discharge"])):
        caught_up(hub, broker, partner_id, topics)
    ours = [post(hub, "admission", rng, nhs=person) for _ in range(3)]
    post(hub, "admission", rng)  # someone else
    post(hub, "discharge", rng, nhs=person)
    for partner_id, topics in (("housing", ["admission"]), ("gp", ["admission", "discharge"])):
        caught_up(hub, broker, partner_id, topics)
    committed = {p: broker.committed(hub.group(p)) for p in ("housing", "gp")}
    housing, gp = hub.partners["housing"], hub.partners["gp"]
    housing_before, gp_before = housing.count(), gp.count()

    result = ctl(hub, "replay", "--nhs", person, "--redeliver", "housing", "--json", check=0)
    [summary] = json_lines(result.stdout)
    assert summary == {"partner": "housing", "read": summary["read"], "matched": 3,
                       "delivered": 3, "failed": 0}
    wait_until(lambda: housing.count() == housing_before + 3, 10, "three redeliveries")
    again = [r["json"]["event_id"] for r in housing.requests()[housing_before:]]
    assert sorted(again) == sorted(ours)
    assert gp.count() == gp_before, "the other partner received nothing"
    # Give any commit a chance to happen, then compare: nothing moved.
    caught_up(hub, broker, "housing", ["admission"])
    assert {p: broker.committed(hub.group(p)) for p in ("housing", "gp")} == committed
    receipts = [json.loads(v) for _, v, _ in broker.read_topic(hub.audit_topic)]
    replayed = [r for r in receipts if r.get("via") == "replay"]
    assert sorted(r["event_id"] for r in replayed) == sorted(ours)
    assert all(r["partner"] == "housing" and r["outcome"] == "delivered" for r in replayed)

    # A partner never receives a type it does not subscribe to.
    assert ctl(hub, "replay", "--type", "discharge", "--redeliver", "housing").returncode == 2


def test_dead_letters_listed_explained_and_redriven(make_hub, broker):
    hub = make_hub({"housing": ["admission"], "gp": ["admission"]})
    rng = random.Random(504)
    for partner_id in ("housing", "gp"):
        caught_up(hub, broker, partner_id, ["admission"])
    housing = hub.partners["housing"]
    before = housing.count()
    housing.behave(status=422, body={"error": "unknown ward 9990123454"}, times=2)
    refused = [post(hub, "admission", rng) for _ in range(2)]
    # The two 422s go to these two: the next events are sent only once both
    # were answered (requests in flight together may arrive in any order).
    wait_until(lambda: housing.count() >= before + 2, 30, "the two refusals")
    fine = [post(hub, "admission", rng) for _ in range(2)]
    for partner_id in ("housing", "gp"):
        caught_up(hub, broker, partner_id, ["admission"])

    result = ctl(hub, "dlq", "list", "--json", check=3)
    letters = json_lines(result.stdout)
    assert sorted(l["event_id"] for l in letters) == sorted(refused)
    assert all(l["partner"] == "housing" and l["status"] == "422" and l["state"] == "outstanding"
               for l in letters)
    table = ctl(hub, "dlq", "list", check=3).stdout
    assert "2 outstanding dead letters" in table and "HTTP 422" in table

    status = json_lines(ctl(hub, "status", "--json", check=3).stdout)[0]
    rows = {p["partner"]: p for p in status["partners"]}
    assert rows["housing"]["dead_letters"] == 2 and rows["housing"]["attention"]
    assert rows["gp"]["dead_letters"] == 0 and rows["gp"]["lag"] == 0
    assert not rows["gp"]["attention"]
    assert any(t["topic"] == "admission" and t["partitions"] == 3 for t in status["topics"])

    shown = json_lines(ctl(hub, "dlq", "show", letters[0]["id"], "--json", "--payload",
                           check=0).stdout)[0]
    assert shown["reason"] == "HTTP 422" and "9990123454" not in shown["response_excerpt"]
    assert shown["event"]["event_id"] == letters[0]["event_id"]
    assert ctl(hub, "dlq", "show", "0:999999").returncode == 3

    # The partner is fixed (it answers 200 again): redrive.
    committed_gp = broker.committed(hub.group("gp"))
    before = housing.count()
    gp_before = hub.partners["gp"].count()
    result = ctl(hub, "dlq", "redrive", "--all", "--partner", "housing", check=0)
    assert "2 redriven, 0 not delivered" in result.stdout
    got = [r["json"]["event_id"] for r in housing.requests()[before:] if r["status"] == 200]
    assert sorted(got) == sorted(refused)
    assert hub.partners["gp"].count() == gp_before
    assert broker.committed(hub.group("gp")) == committed_gp
    ctl(hub, "dlq", "list", check=0)
    all_letters = json_lines(ctl(hub, "dlq", "list", "--all", "--json", check=0).stdout)
    assert {l["state"] for l in all_letters} == {"redriven"}
    # Nothing left to redrive.
    assert "0 redriven" in ctl(hub, "dlq", "redrive", "--all", check=0).stdout
    assert fine  # delivered normally, never dead letters
    assert not {l["event_id"] for l in all_letters} & set(fine)


def test_audit_person_lists_exactly_what_partners_received(make_hub, broker):
    hub = make_hub({"housing": ["admission", "discharge"], "gp": ["admission"],
                    "leisure": ["referral"]})
    rng = random.Random(505)
    for partner_id, topics in (("housing", ["admission", "discharge"]), ("gp", ["admission"]),
                               ("leisure", ["referral"])):
        caught_up(hub, broker, partner_id, topics)
    person, other = events.nhs_number(rng), events.nhs_number(rng)
    hub.partners["leisure"].behave(status=400, times=1)
    ours = {post(hub, "referral", rng, nhs=person): "referral"}
    for event_type in ("admission", "admission", "discharge", "employment-support"):
        ours[post(hub, event_type, rng, nhs=person)] = event_type
    post(hub, "admission", rng, nhs=other)
    for partner_id, topics in (("housing", ["admission", "discharge"]), ("gp", ["admission"]),
                               ("leisure", ["referral"])):
        caught_up(hub, broker, partner_id, topics)

    received = set()
    for partner_id, partner in hub.partners.items():
        for event in partner.delivered_events():
            if event["person"]["nhs_number"] == person:
                received.add((partner_id, event["event_id"]))
    assert len(received) == 2 + 1 + 2  # housing 2 adm + 1 dis, gp 2 adm; the referral refused

    [report] = json_lines(ctl(hub, "audit", "person", person, "--json", check=0).stdout)
    assert {e["event_id"]: e["event_type"] for e in report["events"]} == ours
    delivered = {(r["partner"], r["event_id"]) for r in report["records"]
                 if r["outcome"] == "delivered"}
    assert delivered == received
    refused = [r for r in report["records"] if r["outcome"] != "delivered"]
    assert [(r["partner"], r["outcome"]) for r in refused] == [("leisure", "dead_lettered")]
    text = ctl(hub, "audit", "person", person, check=0).stdout
    assert f"Events about NHS number {person}: 5" in text

    nobody = events.nhs_number(random.Random(99))
    assert ctl(hub, "audit", "person", nobody).returncode == 3


# --- issue 16 part 3: the CLI path ----------------------------------------------------------


def test_tail_reads_as_lines_without_personal_data_and_topics_counts(make_hub, broker):
    hub = make_hub({"housing": ["admission"]}, start_dispatch=False)
    rng = random.Random(506)
    sent = {}
    for event_type in TOPICS:
        event = events.make(event_type, rng)
        answer = hub.post(event_type, event)
        assert answer.status_code == 202, answer.text
        sent[event_type] = (answer.json()["event_id"], event)
    for event_type, (event_id, event) in sent.items():
        lines = ctl(hub, "tail", event_type, "-n", "5", check=0).stdout.splitlines()
        [ours] = [line for line in lines if event_id in line]
        assert ours.startswith("20") and f" {event_type}/" in ours and "@" in ours
        assert event["event_type"] in ours and f"from {event['source_ods_code']}" in ours
        person = event["person"]
        for personal in (person["nhs_number"], person["family_name"], person["given_name"],
                         person.get("date_of_birth"), event.get("notes")):
            assert not personal or personal not in ours, "personal data in a tail line"

    rows = {r["topic"]: r for r in json_lines(ctl(hub, "topics", "--json", check=0).stdout)}
    ends = broker.end_offsets(TOPICS)
    for topic in TOPICS:
        row = rows[topic]
        assert row["partitions"] == 3 and row["role"] == "events"
        assert row["messages"] == ends[topic]
        assert row["earliest"] <= row["latest"]
    assert rows[hub.dead_letter_topic]["role"] == "dead letters"
    table = ctl(hub, "topics", check=0).stdout
    assert table.splitlines()[0].split() == ["TOPIC", "ROLE", "PARTITIONS", "MESSAGES",
                                             "EARLIEST", "LATEST"]


def test_audit_person_is_in_time_order_and_shows_why_rows_were_withheld(make_hub, broker):
    fields = [f for f in schema_fields("admission") if f != "person"]
    not_care = {"id": "housing-not-care", "purpose": "tests", "legal_basis": "test data only",
                "event_types": ["admission"], "fields": fields, "direct_care": False,
                "restricted_records": True}
    hub = make_hub({"housing": ["admission"]},
                   partner_options={"housing": {"agreements": [not_care]}})
    rng = random.Random(507)
    person = events.nhs_number(rng)
    ids = []
    for objected in (False, True, False, False, True):
        event = events.make("admission", rng, nhs=person)
        event["sharing"]["objected_to_non_care_sharing"] = objected
        answer = hub.post("admission", event)
        assert answer.status_code == 202, answer.text
        ids.append(answer.json()["event_id"])
    caught_up(hub, broker, "housing", ["admission"])

    [report] = json_lines(ctl(hub, "audit", "person", person, "--json", check=0).stdout)
    accepted = [e["accepted_at"] for e in report["events"]]
    assert sorted(e["event_id"] for e in report["events"]) == sorted(ids)
    assert accepted == sorted(accepted), "events in the order the hub accepted them"
    times = [r.get("completed_at") or r.get("at") for r in report["records"]]
    assert len(times) == 5 and times == sorted(times), "records in time order"
    withheld = [r for r in report["records"] if r["outcome"] == "suppressed"]
    assert sorted(r["event_id"] for r in withheld) == sorted([ids[1], ids[4]])
    assert all(r["reason"] == "objection" for r in withheld)
    text = ctl(hub, "audit", "person", person, check=0).stdout
    records = text[text.index("Disclosures and suppressions"):].splitlines()[1:]
    assert records[0].split()[-1] == "REASON"
    for row in records[1:]:
        if " suppressed " in row:
            assert "objection" in row.split(" suppressed ")[1], row


def test_redrive_needs_its_secrets_refuses_unknown_ids_and_never_sends_twice(make_hub, broker):
    """The runbook's redrive on the demo failed: the pseudonym key's variable
    was unset in the operator's shell, the error cited the partner's line,
    it exited 3, and --check-config had said OK. Then: a dead letter that
    was delivered since is not sent again, and an unknown ID changes
    nothing."""
    fields = [f for f in schema_fields("admission") if f != "person"]
    keyed = {"id": "housing-keyed", "purpose": "tests", "legal_basis": "test data only",
             "event_types": ["admission"], "fields": fields, "direct_care": True,
             "restricted_records": True, "pseudonym_key": "env:PLACEHUB_TEST_HOUSING_KEY"}
    key = {"PLACEHUB_TEST_HOUSING_KEY": "k" * 40}
    hub = make_hub({"housing": ["admission"]}, env=key,
                   partner_options={"housing": {"agreements": [keyed]}})
    with open(hub.config_path) as f:
        key_line = next(n for n, line in enumerate(f, 1) if "pseudonym_key" in line)
    without = {k: v for k, v in os.environ.items() if k != "PLACEHUB_TEST_HOUSING_KEY"}

    def run(*args, env=without):
        return subprocess.run([CTL, *args, "-c", hub.config_path], capture_output=True,
                              text=True, timeout=300, env=env)

    # --check-config (ctl's and dispatch's) reads what delivery reads.
    for command in ([CTL, "--check-config"], [os.path.join(BIN, "placehub-dispatch"),
                                                "--check-config"]):
        result = subprocess.run([*command, "-c", hub.config_path], capture_output=True,
                                text=True, timeout=60, env=without)
        assert result.returncode == 1, result.stdout + result.stderr
        assert (f"{hub.config_path}:{key_line}:" in result.stderr and
                "pseudonym_key: secret env:PLACEHUB_TEST_HOUSING_KEY: the environment variable "
                "is not set" in result.stderr), result.stderr
        assert "configuration OK" not in result.stdout
    assert run("--check-config", env=dict(without, **key)).returncode == 0

    caught_up(hub, broker, "housing", ["admission"])
    housing = hub.partners["housing"]
    rng = random.Random(508)
    first, second = events.nhs_number(rng), events.nhs_number(rng)
    before = housing.count()
    housing.behave(status=422, times=2)
    first_id, second_id = (post(hub, "admission", rng, nhs=person) for person in (first, second))
    wait_until(lambda: housing.count() >= before + 2, 30, "the two refusals")
    caught_up(hub, broker, "housing", ["admission"])
    letters = {l["event_id"]: l for l in json_lines(run("dlq", "list", "--json").stdout)}
    assert len(letters) == 2

    def written():
        return (broker.end_offsets([hub.audit_topic, hub.dead_letter_topic]), housing.count())

    # The key unset here: could not do it (1), nothing sent or written.
    state = written()
    result = run("dlq", "redrive", "--all")
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{hub.config_path}:{key_line}:" in result.stderr and "Nothing was sent" in result.stderr
    # An ID that is no dead letter: a bad command line (2), nothing changes.
    result = run("dlq", "redrive", "0:999999", env=dict(without, **key))
    assert result.returncode == 2 and "no dead letter 0:999999" in result.stderr
    assert written() == state

    # One dead letter's event reaches its partner by replay; the other by redrive.
    replayed = run("replay", "--nhs", first, "--redeliver", "housing", env=dict(without, **key))
    assert replayed.returncode == 0, replayed.stderr
    by_replay, other = letters[first_id], letters[second_id]
    result = run("dlq", "redrive", other["id"], env=dict(without, **key))
    assert result.returncode == 0 and "1 redriven, 0 not delivered" in result.stdout

    # Neither is sent again, nor recorded: the redriven one by its marker,
    # the replayed one by the receipt the disclosure ledger holds.
    state = written()
    for letter, via in ((other, "redrive"), (by_replay, "replay")):
        result = run("dlq", "redrive", letter["id"], env=dict(without, **key))
        assert result.returncode == 3, result.stdout + result.stderr
        assert (f"{letter['id']} (event {letter['event_id']}) was already delivered to housing"
                in result.stderr and f"(via {via})" in result.stderr), result.stderr
        assert "0 redriven, 0 not delivered, 1 already delivered" in result.stdout
    result = run("dlq", "redrive", "--all", "--json", env=dict(without, **key))
    assert result.returncode == 3
    assert [l["outcome"] for l in json_lines(result.stdout)] == ["already_delivered"]
    assert written() == state


def test_make_install_into_a_prefix(tmp_path):
    prefix = tmp_path / "prefix"
    stage = tmp_path / "stage"
    result = subprocess.run(["make", "--no-print-directory", "-s", "install",
                             f"PREFIX={prefix}", f"DESTDIR={stage}",
                             f"BUILD={os.path.relpath(os.path.dirname(BIN), REPO)}"],
                            cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    root = stage / str(prefix).lstrip("/")
    for program in ("ctl", "ingest", "dispatch", "registry", "mllp", "partner-sim",
                    "connector-test"):
        assert os.access(root / "bin" / f"placehub-{program}", os.X_OK), program
    assert (root / "lib/placehub/connectors/example.so").exists()
    assert (root / "include/placehub/connector.h").exists()
    assert (root / "share/placehub/schemas/catalogue.json").exists()
    help_text = subprocess.run([str(root / "bin/placehub-ctl"), "--help"], cwd=tmp_path,
                               capture_output=True, text=True, timeout=30)
    assert help_text.returncode == 0 and "Usage: placehub-ctl" in help_text.stdout
    # The installed example configuration finds the installed schemas.
    config = root / "share/placehub/config/placehub.yaml"
    checked = subprocess.run([str(root / "bin/placehub-registry"), "-c", str(config),
                              "--check-config"], cwd=tmp_path, capture_output=True, text=True,
                             timeout=30)
    assert checked.returncode == 0, checked.stderr
    assert f"{root}/share/placehub/config/../schemas" in checked.stdout
