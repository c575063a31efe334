"""The README's first command: `make demo` runs scripts/demo.sh, which
starts Kafka, the services and three simulated partners on the example
configuration's fixed ports and sends sample events through them.
`--once` stops it afterwards; this runs that and checks what it reports."""
import os
import re
import socket
import subprocess
import time

import pytest
import requests

from harness import BIN, REPO

PORTS = [9092, 8080, 8081, 2575, 9101, 9102, 9103, 9180, 9181, 9182, 9190]


def port_taken(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def demo_ports_or_skip():
    taken = [p for p in PORTS if port_taken(p)]
    if taken:
        message = f"the demo's fixed ports are in use here: {taken}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def test_demo_runs_end_to_end():
    demo_ports_or_skip()
    env = dict(os.environ, BUILD=os.environ.get("BUILD", "build"))
    result = subprocess.run([os.path.join(REPO, "scripts", "demo.sh"), "--once"], cwd=REPO,
                            capture_output=True, text=True, timeout=300, env=env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    for event_type in ("admission", "discharge", "referral", "employment-support"):
        assert re.search(rf"\n\s+{event_type}\s+-> 202 accepted", output), output[-3000:]
    assert output.count("MSA|AA") == 2, "both HL7 messages acknowledged AA"
    assert "suppressed for stockport-homes" in output, "the objection was suppressed"
    assert "disclosed  to  life-leisure" in output
    assert " LAG" in output and "demo: stopped" in output


def test_help_prints_the_text_and_usage_only():
    result = subprocess.run([os.path.join(REPO, "scripts", "demo.sh"), "--help"], cwd=REPO,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith("The placehub demo") and "set -euo" not in result.stdout
    assert any(line.startswith("Usage: scripts/demo.sh") for line in lines)
    for option in ("--once", "--detach", "--stop", "--fresh"):
        assert option in result.stdout


def test_detached_demo_is_scriptable_then_stopped():
    """make demo-detach leaves the hub running: the runbook's commands work
    against it from another process (the pseudonym keys are files, not
    variables of the demo's shell), then --stop ends it all."""
    demo_ports_or_skip()
    env = dict(os.environ, BUILD=os.environ.get("BUILD", "build"))
    for name in [k for k in env if k.startswith("PLACEHUB_DEMO_")]:
        del env[name]
    demo = os.path.join(REPO, "scripts", "demo.sh")
    ctl = os.path.join(BIN, "placehub-ctl")
    try:
        result = subprocess.run([demo, "--detach"], cwd=REPO, capture_output=True, text=True,
                                timeout=300, env=env, stdin=subprocess.DEVNULL)
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-3000:]
        assert "keeps running in the background" in output and "demo: stopped" not in output
        assert all(port_taken(p) for p in (9092, 8080, 8081, 9101, 9102))
        again = subprocess.run([demo, "--once"], cwd=REPO, capture_output=True, text=True,
                               timeout=60, env=env)
        assert again.returncode == 1 and "demo-stop" in again.stderr
        checked = subprocess.run([ctl, "--check-config"], cwd=REPO, capture_output=True,
                                 text=True, timeout=60, env=env)
        assert checked.returncode == 0, checked.stderr
        topics = subprocess.run([ctl, "topics", "--json"], cwd=REPO, capture_output=True,
                                text=True, timeout=60, env=env)
        assert topics.returncode == 0, topics.stderr
        assert '"topic":"admission"' in topics.stdout
        # The console runs with the two users the demo printed.
        users = dict(re.findall(r"(operator|auditor) / ([0-9a-f]{24})", output))
        assert set(users) == {"operator", "auditor"}, output[-3000:]
        session = requests.Session()
        page = session.get("http://127.0.0.1:9190/login", timeout=10)
        token = re.search(r'name="login_token" value="([0-9a-f]{32})"', page.text).group(1)
        login = session.post("http://127.0.0.1:9190/login", allow_redirects=False, timeout=30,
                             data={"login_token": token, "name": "operator",
                                   "password": users["operator"]})
        assert login.status_code == 303, login.text
        assert session.get("http://127.0.0.1:9190/api/session",
                           timeout=10).json()["role"] == "operator"
    finally:
        stopped = subprocess.run([demo, "--stop"], cwd=REPO, capture_output=True, text=True,
                                 timeout=120, env=env)
    assert stopped.returncode == 0 and "demo: stopped" in stopped.stdout, stopped.stderr
    assert not any(port_taken(p) for p in (9092, 8080, 8081, 2575, 9101, 9102, 9190))
    assert not os.path.exists(os.path.join(REPO, ".run", "demo", "demo.pids"))
    assert "no detached demo" in subprocess.run([demo, "--stop"], cwd=REPO, capture_output=True,
                                                 text=True, timeout=30).stdout


def test_ctrl_c_in_a_terminal_stops_make_demo_cleanly():
    """In a terminal, make demo waits for Ctrl-C; Ctrl-C stops everything and
    make exits 0, without "Error 130"."""
    demo_ports_or_skip()
    import fcntl
    import pty
    import select
    import termios
    master, slave = pty.openpty()

    def controlling_terminal():
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

    env = dict(os.environ, BUILD=os.environ.get("BUILD", "build"))
    make = subprocess.Popen(["make", "--no-print-directory", "demo"], cwd=REPO, stdin=slave,
                            stdout=slave, stderr=slave, env=env, preexec_fn=controlling_terminal)
    os.close(slave)
    seen = b""

    def read_until(text, timeout):
        nonlocal seen
        deadline = time.monotonic() + timeout
        while text not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1)
            if ready:
                try:
                    seen += os.read(master, 65536)
                except OSError:  # the other side closed
                    break
        return text in seen

    try:
        assert read_until(b"press Ctrl-C", 300), seen.decode(errors="replace")[-3000:]
        os.write(master, b"\x03")
        assert read_until(b"demo: stopped", 120), seen.decode(errors="replace")[-3000:]
        assert make.wait(timeout=60) == 0
        read_until(b"Error", 1)
        assert b"Error" not in seen
    finally:
        if make.poll() is None:
            make.terminate()
            make.wait(timeout=60)
        os.close(master)
    assert not any(port_taken(p) for p in (8080, 8081, 2575, 9101, 9102))
