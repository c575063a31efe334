"""tools/check-layers.py: lib/ includes only downwards, and the check fails
when it does not (shown on a copy of the tree with one wrong include)."""
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHECK = REPO / "tools" / "check-layers.py"


def run(root):
    return subprocess.run([sys.executable, str(CHECK), str(root)], capture_output=True,
                          text=True, timeout=60)


def copy_tree(tmp_path):
    root = tmp_path / "repo"
    shutil.copytree(REPO / "lib", root / "lib")
    shutil.copytree(REPO / "connectors", root / "connectors")
    return root


def test_the_tree_as_committed_passes():
    result = run(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "only downwards" in result.stdout


def test_a_lower_layer_including_a_higher_one_fails(tmp_path):
    root = copy_tree(tmp_path)
    clock = root / "lib" / "core" / "clock.c"
    lines = clock.read_text().splitlines(keepends=True)
    lines.insert(3, '#include "delivery/connector.h"\n')
    clock.write_text("".join(lines))
    result = run(root)
    assert result.returncode == 1
    assert 'lib/core/clock.c:4: #include "delivery/connector.h"' in result.stdout
    assert "may not include lib/delivery/" in result.stdout


def test_an_include_without_a_layer_fails(tmp_path):
    root = copy_tree(tmp_path)
    codec = root / "lib" / "schema" / "codec.c"
    codec.write_text('#include "log.h"\n' + codec.read_text())
    result = run(root)
    assert result.returncode == 1
    assert 'lib/schema/codec.c:1: #include "log.h" names no layer' in result.stdout


def test_a_connector_reaching_past_core_fails(tmp_path):
    root = copy_tree(tmp_path)
    webhook = root / "connectors" / "webhook" / "webhook.c"
    webhook.write_text('#include "kafka/producer.h"\n' + webhook.read_text())
    result = run(root)
    assert result.returncode == 1
    assert "connectors/webhook/webhook.c:1:" in result.stdout
    assert "a connector may not include lib/kafka/" in result.stdout


def test_a_connector_may_include_only_its_own_headers_without_a_layer(tmp_path):
    """connectors/fhir/fhir.h is the fhir connector's own: allowed there,
    but the same name from another connector's folder is not."""
    root = copy_tree(tmp_path)
    assert run(root).returncode == 0
    webhook = root / "connectors" / "webhook" / "webhook.c"
    webhook.write_text('#include "fhir.h"\n' + webhook.read_text())
    result = run(root)
    assert result.returncode == 1
    assert 'connectors/webhook/webhook.c:1: #include "fhir.h" names no layer' in result.stdout
