"""placehub-console on a real broker, in a real browser (Selenium driving
Debian's headless chromium): an operator logs in, sees a partner go red when
its simulated API fails and closes the circuit at once with "probe now",
traces an event, redrives a dead letter and sees it delivered at the
simulated partner, and never sees an NHS number; an auditor's subject access
search is audited before it is shown. Without a browser: the login, the
session, CSRF, roles, and every form's and API's bad input.

Screenshots of each page go to $BUILD/test-output/console/ (docs/operations.md
describes them)."""
import json
import os
import random
import re
import shutil
import subprocess
import time

import pytest
import requests

import events
from harness import BIN, REPO, free_port, wait_until

CONSOLE = os.path.join(BIN, "placehub-console")
SHOTS = os.path.join(REPO, os.environ.get("BUILD", "build"), "test-output", "console")
OPERATOR = ("olive", "operator", "olive-operates-the-hub")
AUDITOR = ("arthur", "auditor", "arthur-audits-disclosures")
PARTNERS = {"council": ["admission", "discharge"], "care-home": ["admission"]}


class Console:
    """A hub with placehub-console, two users, and the operators' ports."""

    def __init__(self, make_hub):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        dispatch_ops, ingest_ops = free_port(), free_port()
        extra = f"""operations:
  ingest_listen: "127.0.0.1:{ingest_ops}"
  dispatch_listen: "127.0.0.1:{dispatch_ops}"
console:
  listen: "127.0.0.1:{self.port}"
  users_file: "console-users"
  ledger: "console-ledger.db"
  sample_interval_ms: 1000
"""
        # A circuit that opens after two failures and stays open a minute:
        # "probe now" is then the only way it closes within the test.
        self.hub = make_hub(PARTNERS, extra_config=extra,
                            dispatch_settings={"breaker_failures": 2, "breaker_open_ms": 60000,
                                               "breaker_open_max_ms": 60000})
        for name, role, password in (OPERATOR, AUDITOR):
            added = subprocess.run([CONSOLE, "--add-user", name, "--role", role, "-c",
                                    self.hub.config_path], input=password + "\n", text=True,
                                   capture_output=True, timeout=60)
            assert added.returncode == 0, added.stderr
        self.process = self.hub.start_program("console")
        wait_until(self._healthy, 60, "placehub-console to answer /healthz")

    def _healthy(self):
        if not self.process.alive():
            raise AssertionError(f"placehub-console exited:\n{self.process.output()}")
        try:
            return requests.get(self.url + "/healthz", timeout=1).status_code == 200
        except requests.ConnectionError:
            return False

    def login(self, user):
        """A requests session logged in as user, and its CSRF token."""
        session = requests.Session()
        page = session.get(self.url + "/login", timeout=10)
        token = re.search(r'name="login_token" value="([0-9a-f]{32})"', page.text).group(1)
        answer = session.post(self.url + "/login", data={"login_token": token, "name": user[0],
                                                        "password": user[2]},
                              allow_redirects=False, timeout=30)
        assert answer.status_code == 303, answer.text
        csrf = session.get(self.url + "/api/session", timeout=10).json()["csrf"]
        return session, csrf


def post_admission(hub, rng, nhs):
    event = events.plain_admission(rng, nhs)
    answer = hub.post("admission", event)
    assert answer.status_code == 202, answer.text
    return answer.json()["event_id"]


def audit_records(hub, kind):
    return [json.loads(value) for _, value, _ in hub.broker.read_topic(hub.audit_topic)
            if json.loads(value).get("record") == kind]


def test_login_sessions_csrf_roles_and_bad_input(make_hub):
    console = Console(make_hub)
    url = console.url
    # Not logged in: the page sends you to the login, the API says so.
    first = requests.get(url + "/", allow_redirects=False, timeout=10)
    assert first.status_code == 303 and first.headers["Location"] == "/login"
    assert requests.get(url + "/api/overview", timeout=10).status_code == 401
    assert "frame-ancestors 'none'" in first.headers["Content-Security-Policy"]
    # The login form must come from the console (its token in form and cookie).
    forged = requests.post(url + "/login", data={"name": OPERATOR[0], "password": OPERATOR[2]},
                           timeout=30)
    assert forged.status_code == 403 and "expired or came from elsewhere" in forged.text
    wrong = requests.Session()
    token = re.search(r'value="([0-9a-f]{32})"', wrong.get(url + "/login").text).group(1)
    answer = wrong.post(url + "/login", data={"login_token": token, "name": OPERATOR[0],
                                              "password": "not-the-password"}, timeout=30)
    assert answer.status_code == 401 and "Wrong user name or password" in answer.text
    token = re.search(r'value="([0-9a-f]{32})"', wrong.get(url + "/login").text).group(1)
    answer = wrong.post(url + "/login", data={"login_token": token, "name": "bad name!",
                                              "password": "x"}, timeout=30)
    assert answer.status_code == 400 and "User name:" in answer.text

    operator, csrf = console.login(OPERATOR)
    cookie = operator.cookies.get("placehub_session")
    assert cookie and len(cookie) == 64
    me = operator.get(url + "/api/session", timeout=10).json()
    assert me["name"] == "olive" and me["role"] == "operator"
    # Every state-changing request needs the session's CSRF token, from this origin.
    pause = url + "/api/partners/council/pause"
    refused = operator.post(pause, json={}, timeout=10)
    assert refused.status_code == 403 and refused.json()["error"]["field"] == "X-CSRF-Token"
    refused = operator.post(pause, json={}, headers={"X-CSRF-Token": csrf,
                                                     "Origin": "http://evil.example"}, timeout=10)
    assert refused.status_code == 403
    headers = {"X-CSRF-Token": csrf}
    # Bad input names the field at fault and changes nothing.
    cases = [
        ("POST", "/api/partners/nobody/pause", {}, 404, "partner"),
        ("POST", "/api/partners/council/explode", {}, 400, "action"),
        ("GET", "/api/trace?event_id=" + "x" * 65, None, 400, "event_id"),
        ("GET", "/api/trace?event_id=a%20b", None, 400, "event_id"),
        ("POST", "/api/dead-letters/redrive", {"ids": ["seven"]}, 400, "ids"),
        ("POST", "/api/dead-letters/redrive", {"ids": []}, 400, "ids"),
        ("POST", "/api/dead-letters/redrive", {"all": True}, 400, "partner"),
        ("GET", "/api/dead-letters?partner=nobody", None, 404, "partner"),
        ("GET", "/api/dead-letters/show?id=zero", None, 400, "id"),
    ]
    for method, path, body, status, field in cases:
        answer = operator.request(method, url + path, json=body, headers=headers, timeout=60)
        assert answer.status_code == status, (path, answer.text)
        assert answer.json()["error"]["field"] == field, (path, answer.text)
    # A redrive of a dead letter that does not exist says so and sends nothing.
    unknown = operator.post(url + "/api/dead-letters/redrive", json={"ids": ["0:999999"]},
                            headers=headers, timeout=120)
    assert unknown.status_code in (400, 404), unknown.text
    assert "999999" in unknown.json()["error"]["message"]
    assert console.hub.partners["council"].count() == 0
    # Operators never get personal data: subject access is the auditor's.
    nhs = "999 012 3454"
    forbidden = operator.get(url + "/api/subject-access", params={"nhs": nhs}, timeout=10)
    assert forbidden.status_code == 403
    auditor, auditor_csrf = console.login(AUDITOR)
    bad = auditor.get(url + "/api/subject-access", params={"nhs": "999 012 3455"}, timeout=10)
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "nhs"
    bad = auditor.get(url + "/api/subject-access", params={"nhs": nhs, "from": "yesterday"},
                      timeout=10)
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "from"
    # Auditors read; they do not operate.
    refused = auditor.post(pause, json={}, headers={"X-CSRF-Token": auditor_csrf}, timeout=10)
    assert refused.status_code == 403
    assert not audit_records(console.hub, "partner_control")
    # Logging out ends the session on the server, not only in the browser.
    assert operator.post(url + "/api/logout", json={}, headers=headers,
                         timeout=10).status_code == 200
    assert requests.get(url + "/api/session", cookies={"placehub_session": cookie},
                        timeout=10).status_code == 401


# ---- in a real browser ---------------------------------------------------------


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver_path, (
        "chromium and chromium-driver are needed: scripts/install-deps.sh --browser installs them")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--window-size=1500,1100"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    os.makedirs(SHOTS, exist_ok=True)
    yield driver
    driver.quit()


def browser_login(driver, console, user):
    from selenium.webdriver.common.by import By
    driver.get(console.url + "/")
    driver.find_element(By.ID, "name").send_keys(user[0])
    driver.find_element(By.ID, "password").send_keys(user[2])
    driver.find_element(By.ID, "login").click()
    wait_until(lambda: user[0] in driver.find_element(By.ID, "who").text, 30,
               f"{user[0]} to be logged in")


def shot(driver, name):
    driver.save_screenshot(os.path.join(SHOTS, name + ".png"))


def text_of(driver, selector):
    """The text of selector's element now, or None: read in the page, since
    the overview redraws its table every few seconds (an element found
    before a redraw is gone after it)."""
    return driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.textContent : null;",
        selector)


def click_live(driver, selector):
    """Clicks selector's element, found again if a redraw (the overview's
    every few seconds, a list loaded twice) replaced it between finding and
    clicking."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    def clicked():
        try:
            driver.find_element(By.CSS_SELECTOR, selector).click()
            return True
        except StaleElementReferenceException:
            return False
    wait_until(clicked, 10, f"{selector} to be clickable")


def row_state(driver, partner):
    return driver.execute_script(
        "const e = document.getElementById(arguments[0]); return e ? e.dataset.state : null;",
        "partner-" + partner)


def test_operator_in_a_browser(make_hub, browser):
    from selenium.webdriver.common.by import By
    console = Console(make_hub)
    hub, driver = console.hub, browser
    rng = random.Random(1607)
    people = [events.nhs_number(rng) for _ in range(6)]
    sent = [post_admission(hub, rng, nhs) for nhs in people[:4]]
    for partner in ("council", "care-home"):
        wait_until(lambda: hub.partners[partner].count() >= 4, 60, f"{partner} to get 4")

    browser_login(driver, console, OPERATOR)
    wait_until(lambda: row_state(driver, "council") == "delivering", 30, "council delivering")
    # The charts draw real samples: wait for the hour's series to hold the deliveries.
    wait_until(lambda: driver.execute_script(
        "return Math.max(0, ...[...document.querySelectorAll('#chart-throughput polyline')]"
        ".map(line => Number(line.dataset.points)))") >= 3, 30,
        "three samples in the throughput chart")
    wait_until(lambda: text_of(driver, "#partner-council td:nth-child(4)") == "4", 30,
               "council's delivered count")
    shot(driver, "overview")

    # The care home's API fails: its row goes red with the last error.
    hub.partners["care-home"].behave(status=503)
    failing = [post_admission(hub, rng, nhs) for nhs in people[4:6]]
    wait_until(lambda: row_state(driver, "care-home") == "circuit_open", 60,
               "care-home's row to show the open circuit")
    assert "HTTP 503" in text_of(driver, "#partner-care-home")
    # The lag is the broker's (committed offsets against the end), not the
    # paused consumer's own figure, which stands still at 0.
    wait_until(lambda: text_of(driver, "#partner-care-home td:nth-child(3)") == "2", 30,
               "care-home's lag to show its two waiting events")
    assert row_state(driver, "council") == "delivering"
    shot(driver, "overview-circuit-open")

    # Fixed; "probe now" closes the circuit at once instead of in a minute.
    hub.partners["care-home"].behave(status=200)
    before = time.monotonic()
    click_live(driver, "#control-probe-care-home")
    wait_until(lambda: {e["event_id"] for e in hub.partners["care-home"].delivered_events()}
               >= set(failing), 30, "care-home to get the held events after the probe")
    assert time.monotonic() - before < 30  # the breaker alone would wait 60 s
    # Dispatch answers once its record is acknowledged; the delivery the
    # probe let through may come first.
    wait_until(lambda: any(r["action"] == "probe" and r["actor"] == "olive"
                           for r in audit_records(hub, "partner_control")), 30,
               "the probe's partner_control record, naming olive")

    # A dead letter: the council refuses one event for good, then is fixed.
    hub.partners["council"].behave(status=422, times=1)
    refused = post_admission(hub, rng, events.nhs_number(rng))
    wait_until(lambda: any(r["event_id"] == refused and r["outcome"] == "dead_lettered"
                           for r in audit_records(hub, "delivery")), 60, "the dead letter")
    driver.get(console.url + "/#dead-letters")
    wait_until(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#letters-partner option")) > 1,
               30, "the partner list")
    driver.find_element(By.CSS_SELECTOR, "#letters-partner option[value='council']").click()
    driver.find_element(By.CSS_SELECTOR, "#letters-form button[type='submit']").click()
    letter_row = f"#letters tr[data-event-id='{refused}']"
    wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, letter_row), 60, "the letter's row")
    click_live(driver, letter_row + " button")
    wait_until(lambda: driver.find_elements(By.ID, "letter-event"), 60, "the letter's event")
    shown = text_of(driver, "#letter-event")
    assert refused in shown and "auditors only" in shown
    shot(driver, "dead-letter")
    click_live(driver, letter_row + " input.letter-select")
    driver.find_element(By.ID, "redrive-selected").click()
    wait_until(lambda: driver.find_element(By.ID, "confirm").is_displayed(), 10, "the confirmation")
    driver.find_element(By.ID, "confirm-ok").click()
    wait_until(lambda: "all delivered" in (text_of(driver, "#notice") or ""), 120,
               "the redrive's answer")
    assert refused in {e["event_id"] for e in hub.partners["council"].delivered_events()}
    redriven = [r for r in audit_records(hub, "delivery")
                if r["event_id"] == refused and r.get("via") == "redrive"]
    assert redriven and redriven[0]["actor"] == "olive" and redriven[0]["outcome"] == "delivered"

    # Where is that event now: everywhere, in time order.
    driver.get(console.url + "/#trace")
    trace_box = driver.find_element(By.ID, "trace-id")
    trace_box.send_keys(refused)
    driver.find_element(By.CSS_SELECTOR, "#trace-form button").click()

    def outcomes():
        # Read in the page in one go: a trace answered meanwhile redraws the table.
        return [tuple(pair) for pair in driver.execute_script(
            "return [...document.querySelectorAll('#trace-outcomes tr[data-partner]')]"
            ".map(row => [row.dataset.partner, row.dataset.outcome]);")]
    def traced_redelivery():
        # The console's ledger follows the audit topic within a round: ask again.
        if ("council", "delivered") in outcomes():
            return True
        driver.find_element(By.CSS_SELECTOR, "#trace-form button").click()
        return False
    wait_until(traced_redelivery, 60, "the trace to show the redelivery", interval=1)
    assert ("council", "dead_lettered") in outcomes() and ("care-home", "delivered") in outcomes()
    assert "Intake: admission partition" in text_of(driver, "#trace-result")
    assert "via redrive by olive" in text_of(driver, "#trace-outcomes")
    shot(driver, "trace")
    wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, "#recent tbody tr"), 30,
               "the latest events")

    # Nothing the operator saw held an NHS number.
    for page in ("#overview", "#trace", "#dead-letters"):
        driver.get(console.url + "/" + page)
        wait_until(lambda: driver.execute_script("return document.readyState") == "complete", 10,
                   "the page")
        source = driver.page_source
        assert not any(nhs in source for nhs in people), page
    assert not driver.find_element(By.ID, "nav-subject").is_displayed()
    assert sent  # the first events reached both partners above


def test_auditor_subject_access_in_a_browser(make_hub, browser):
    from selenium.webdriver.common.by import By
    console = Console(make_hub)
    hub, driver = console.hub, browser
    rng = random.Random(2711)
    nhs = events.nhs_number(rng)
    event_id = post_admission(hub, rng, nhs)
    for partner in ("council", "care-home"):
        wait_until(lambda: hub.partners[partner].count() >= 1, 60, f"{partner} to get it")
    browser_login(driver, console, AUDITOR)
    driver.get(console.url + "/#subject")
    spaced = f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}"
    driver.find_element(By.ID, "subject-nhs").send_keys(spaced)
    driver.find_element(By.CSS_SELECTOR, "#subject-form button").click()
    wait_until(lambda: sum(event_id in r.text for r in
                           driver.find_elements(By.CSS_SELECTOR, "#subject tr")) >= 2, 60,
               "both disclosures in the report")
    shot(driver, "subject-access")
    views = audit_records(hub, "personal_data_view")
    assert [v["actor"] for v in views] == ["arthur"] and views[0]["view"] == "subject_access"
    assert nhs not in json.dumps(views)  # the record names the person by reference only

    # A dead letter: the operator sees the fields the partner would have got,
    # masked; the auditor sees the values, and that view is audited first.
    hub.partners["council"].behave(status=422, times=1)
    refused = post_admission(hub, rng, nhs)
    wait_until(lambda: any(r["event_id"] == refused and r["outcome"] == "dead_lettered"
                           for r in audit_records(hub, "delivery")), 60, "the dead letter")
    operator, _ = console.login(OPERATOR)
    auditor, _ = console.login(AUDITOR)
    letters = operator.get(console.url + "/api/dead-letters", timeout=120).json()["dead_letters"]
    letter_id = next(d["id"] for d in letters if d["event_id"] == refused)

    def shown(session):
        answer = session.get(console.url + "/api/dead-letters/show", params={"id": letter_id},
                             timeout=120).json()
        return answer if answer.get("event") else None
    masked = wait_until(lambda: shown(operator), 60, "the operator's view of the letter")
    assert nhs not in json.dumps(masked)
    assert masked["event"]["person"]["nhs_number"] == "(personal data: auditors only)"
    assert masked["event"]["event_id"] == refused  # the envelope stays readable
    assert len(audit_records(hub, "personal_data_view")) == 1  # operators' views hold nothing
    clear = shown(auditor)
    assert clear["event"]["person"]["nhs_number"] == nhs
    assert set(masked["fields"]) == set(clear["fields"])  # the same fields, as sent
    views = audit_records(hub, "personal_data_view")
    assert [(v["actor"], v["view"], v["subject"]) for v in views[1:]] == [
        ("arthur", "dead_letter", letter_id)]
    assert nhs not in console.process.output()
