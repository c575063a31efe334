"""Configuration mistakes stop a service at start-up with the file, the line
and what to do, before it touches Kafka."""
import os
import subprocess

import pytest

from harness import BIN, REPO


def run(program, config_text, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(config_text)
    return subprocess.run([os.path.join(BIN, program), "-c", str(path)], capture_output=True,
                          text=True, timeout=30)


BASE = open(os.path.join(REPO, "config", "placehub.yaml")).read()


@pytest.mark.parametrize("program", ["placehub-ingest", "placehub-dispatch", "placehub-registry"])
def test_misspelt_key_names_file_line_and_hint(program, tmp_path):
    result = run(program, BASE.replace("max_body_bytes", "max_body_byte"), tmp_path)
    assert result.returncode == 1
    line = BASE.splitlines().index(next(l for l in BASE.splitlines() if "max_body_bytes" in l)) + 1
    assert f"bad.yaml:{line}:" in result.stderr
    assert "did you mean 'max_body_bytes'" in result.stderr


def test_wrong_type_is_refused(tmp_path):
    result = run("placehub-ingest", BASE.replace("partitions: 6", "partitions: six", 1), tmp_path)
    assert result.returncode == 1
    assert "partitions must be a whole number, found 'six'" in result.stderr


def test_partner_topic_must_be_declared(tmp_path):
    result = run("placehub-dispatch", BASE.replace("topics: [admission, discharge]",
                                                   "topics: [admission, discharges]"), tmp_path)
    assert result.returncode == 1
    assert "names topic 'discharges', which is not declared under topics" in result.stderr


def test_example_configuration_is_valid():
    for program in ("placehub-ingest", "placehub-dispatch", "placehub-registry"):
        result = subprocess.run([os.path.join(BIN, program), "-c",
                                 os.path.join(REPO, "config", "placehub.yaml"), "--check-config"],
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
        assert "configuration OK" in result.stdout


def test_help_teaches(tmp_path):
    for program in ("placehub-ingest", "placehub-dispatch", "placehub-registry",
                    "placehub-partner-sim"):
        result = subprocess.run([os.path.join(BIN, program), "--help"], capture_output=True,
                                text=True, timeout=30)
        assert result.returncode == 0
        assert "Usage:" in result.stdout
