"""pytest fixtures for the reliability suite (make reliability): the
integration harness (tests/integration/harness.py) with one real broker per
module for the hub-side faults; the Kafka-side faults bring their own mock
cluster (faults.MockCluster)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))

from harness import BIN, Broker, Hub  # noqa: E402


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


@pytest.fixture
def make_hub(broker):
    hubs = []

    def make(partners, **kwargs):
        hub = Hub(broker, partners, **kwargs)
        hubs.append(hub)
        return hub

    yield make
    for hub in hubs:
        hub.stop()
