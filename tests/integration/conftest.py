"""pytest fixtures: one real Kafka broker per test module (started by the
project's own scripts/kafka.sh), and placehub hubs on top of it."""
import os

import pytest

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
