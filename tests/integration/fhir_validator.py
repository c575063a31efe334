"""HAPI FHIR's R4 validator (tools/fhir-validator) as one long-running
process: scripts/fhir-validator.sh builds it once into the cache (fetching
HAPI FHIR through Maven the first time) and runs it; resources go in one
JSON line each, answers come back one JSON line each. Its first validation
takes seconds (it loads the R4 definitions), each later one a few
milliseconds, so a test session starts it once (the fhir_validator fixture
in conftest.py) and sends it every Bundle.
"""
import json
import os
import selectors
import subprocess
import time

from harness import REPO

SCRIPT = os.path.join(REPO, "scripts", "fhir-validator.sh")


class FhirValidator:
    def __init__(self, log_path, build_timeout=900):
        # Building can take minutes on a fresh clone (Maven fetches HAPI
        # FHIR); it is done apart from the process so its time is not
        # mistaken for a slow validation.
        built = subprocess.run([SCRIPT, "build"], cwd=REPO, capture_output=True, text=True,
                               timeout=build_timeout)
        if built.returncode != 0:
            raise RuntimeError(f"{SCRIPT} build failed:\n{built.stdout}{built.stderr}")
        self.log_path = log_path
        self.log = open(log_path, "w")
        self.process = subprocess.Popen([SCRIPT, "run"], cwd=REPO, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=self.log)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.process.stdout, selectors.EVENT_READ)
        self.pending = b""
        self.count = 0
        self.timings = []  # (validation number, milliseconds the validator took)

    def validate(self, resource, timeout=120):
        """The validator's answer for one resource (a dict, or JSON text):
        {"ok": bool, "millis": int, "errors": [{"location", "message"}],
        "warnings": [...]}."""
        text = resource if isinstance(resource, str) else json.dumps(resource)
        assert "\n" not in text, "one resource per line: no raw newlines"
        self.process.stdin.write(text.encode() + b"\n")
        self.process.stdin.flush()
        answer = json.loads(self._line(timeout))
        self.count += 1
        self.timings.append((self.count, answer["millis"]))
        return answer

    def _line(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no answer from the FHIR validator in {timeout} s "
                                   f"(its log: {self.log_path})")
            if not self.selector.select(left):
                continue
            chunk = os.read(self.process.stdout.fileno(), 65536)
            if not chunk:
                raise RuntimeError(f"the FHIR validator exited ({self.process.wait()}); "
                                   f"its log: {self.log_path}\n{self.log_tail()}")
            self.pending += chunk
        line, self.pending = self.pending.split(b"\n", 1)
        return line

    def log_tail(self, lines=30):
        with open(self.log_path) as f:
            return "".join(f.readlines()[-lines:])

    def close(self):
        """Ends the process (end of input makes it exit); returns its exit
        status."""
        self.selector.close()
        self.process.stdin.close()
        try:
            status = self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            status = self.process.wait()
        self.process.stdout.close()
        self.log.close()
        return status


def problems(answer, kind="errors"):
    """An answer's errors (or warnings) as readable lines."""
    return "\n".join(f"{p['location']}: {p['message']}" for p in answer[kind])
