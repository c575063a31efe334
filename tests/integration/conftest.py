"""pytest fixtures: one real Kafka broker per test module (started by the
project's own scripts/kafka.sh), placehub hubs on top of it, and HAPI FHIR's
R4 validator, one process for the whole session (fhir_validator.py)."""
import os

import pytest

from fhir_validator import FhirValidator
from harness import BIN, Broker, Hub


def pytest_configure(config):
    missing = [p for p in ("placehub-ingest", "placehub-dispatch", "placehub-registry",
                           "placehub-partner-sim") if not os.path.exists(os.path.join(BIN, p))]
    if missing:
        raise pytest.UsageError(f"build first (make): missing {', '.join(missing)} in {BIN}")


@pytest.fixture(scope="module")
def broker():
    broker = Broker().start()
    yield broker
    broker.destroy()


@pytest.fixture(scope="session")
def fhir_validator(tmp_path_factory):
    """HAPI FHIR's validator, started on first use and kept for the session:
    its first validation takes seconds, later ones milliseconds."""
    validator = FhirValidator(str(tmp_path_factory.mktemp("fhir-validator") / "validator.log"))
    yield validator
    assert validator.close() == 0, validator.log_tail()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """When a test fails, its report ends with the tail of every hub
    program's log, and the hub's work folder (the full logs) is kept: CI
    keeps only the report."""
    outcome = yield
    report = outcome.get_result()
    hubs = getattr(item, "placehub_hubs", [])
    if report.when != "call" or not report.failed or not hubs:
        return
    for hub in hubs:
        hub.keep_workdir = True
        try:
            report.sections.append((f"consumer groups of {hub.group_prefix}", hub.positions()))
        except Exception as error:  # the broker may be what failed
            report.sections.append((f"consumer groups of {hub.group_prefix}",
                                    f"not readable: {error}"))
        for name, text in hub.logs().items():
            tail = "\n".join(text.splitlines()[-LOG_TAIL_LINES:])
            report.sections.append((f"{name} log (last {LOG_TAIL_LINES} lines; all in "
                                    f"{hub.workdir})", tail))


LOG_TAIL_LINES = 40


@pytest.fixture
def make_hub(broker, request):
    hubs = []
    request.node.placehub_hubs = hubs

    def make(partners, **kwargs):
        hub = Hub(broker, partners, **kwargs)
        hubs.append(hub)
        return hub

    yield make
    for hub in hubs:
        hub.stop()
