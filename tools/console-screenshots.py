#!/usr/bin/env python3
"""console-screenshots: the pictures of docs/operations.md's console section,
taken from a running demo with a few minutes of traffic behind them.

Usage (the demo running detached, `make demo-detach`):
  .cache/venv/bin/python tools/console-screenshots.py [--minutes 3] [--out docs/images]

It sends the demo's sample events at about two a second with the demo's API
key for --minutes, makes the housing partner's simulated API answer 503 for
the last third (its row goes red), logs in to http://127.0.0.1:9190/ with the
operator's password the demo wrote to .run/demo/console-passwords, and saves
console-overview-demo.png. Needs chromium and chromium-driver
(scripts/install-deps.sh --browser) and selenium (the test venv)."""
import argparse
import json
import os
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = os.path.join(REPO, ".run", "demo")
CONSOLE = "http://127.0.0.1:9190"
TYPES = ["admission", "discharge", "referral", "employment-support"]


def post(event_type, header):
    with open(os.path.join(REPO, "tests", "data", f"{event_type}.json")) as f:
        event = json.load(f)
    event.pop("event_id", None)  # a new event each time, not a duplicate
    request = urllib.request.Request(f"http://127.0.0.1:8080/v1/events/{event_type}",
                                     data=json.dumps(event).encode(), method="POST",
                                     headers={"Content-Type": "application/json",
                                              "Authorization": header})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return answer.status


def behave(status):
    request = urllib.request.Request("http://127.0.0.1:9101/_sim/behaviour", method="PUT",
                                     data=json.dumps({"status": status}).encode(),
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=10).read()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3)
    parser.add_argument("--out", default=os.path.join(REPO, "docs", "images"))
    args = parser.parse_args()
    with open(os.path.join(RUN, "ingest-auth.header")) as f:
        header = f.read().split(":", 1)[1].strip()
    with open(os.path.join(RUN, "console-passwords")) as f:
        passwords = dict(line.split() for line in f if line.strip())
    end = time.monotonic() + args.minutes * 60
    failing_from = end - args.minutes * 20
    sent, failing = 0, False
    while time.monotonic() < end:
        if not failing and time.monotonic() > failing_from:
            behave(503)
            failing = True
        post(TYPES[sent % len(TYPES)], header)
        sent += 1
        time.sleep(0.5)  # a steady trickle, as a borough's day looks
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--window-size=1500,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.get(CONSOLE + "/login")
        driver.find_element(By.ID, "name").send_keys("operator")
        driver.find_element(By.ID, "password").send_keys(passwords["operator"])
        driver.find_element(By.ID, "login").click()
        deadline = time.monotonic() + 30
        while not driver.find_elements(By.CSS_SELECTOR, "#partners tbody tr"):
            if time.monotonic() > deadline:
                raise SystemExit("the overview did not draw its partners")
            time.sleep(0.2)
        # One more redraw, so the picture has the latest sample in it.
        before = driver.find_element(By.ID, "updated").text
        deadline = time.monotonic() + 30
        while driver.find_element(By.ID, "updated").text == before:
            if time.monotonic() > deadline:
                raise SystemExit("the overview did not refresh")
            time.sleep(0.2)
        path = os.path.join(args.out, "console-overview-demo.png")
        driver.save_screenshot(path)
        print(f"{sent} events sent; {path}")
    finally:
        driver.quit()
        behave(200)


if __name__ == "__main__":
    main()
