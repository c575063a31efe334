"""pytest fixtures for the reliability suite (make reliability): the
integration suite's own (tests/integration/conftest.py: one real broker per
module, hubs on top of it) for the hub-side faults; the Kafka-side faults
bring their own mock cluster (faults.MockCluster)."""
import importlib.util
import os
import sys

INTEGRATION = os.path.join(os.path.dirname(__file__), "..", "integration")
sys.path.insert(0, INTEGRATION)

# Loaded under another name: both files are called conftest.
_spec = importlib.util.spec_from_file_location("integration_conftest",
                                               os.path.join(INTEGRATION, "conftest.py"))
_integration = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_integration)
pytest_configure = _integration.pytest_configure
broker = _integration.broker
make_hub = _integration.make_hub
