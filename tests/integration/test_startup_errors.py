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


def test_example_configuration_is_valid(tmp_path):
    """Where the demo has made its pseudonym keys (.run/demo/keys, relative
    to the folder the programs run in), the example passes; where it has
    not, dispatch's and ctl's --check-config say which line names the
    missing key, since delivering would fail there."""
    config = os.path.join(REPO, "config", "placehub.yaml")
    keys = tmp_path / ".run" / "demo" / "keys"
    keys.mkdir(parents=True)
    for name in ("HOMES", "LEISURE"):
        (keys / name).write_text("0123456789abcdef" * 4)
    for program in ("placehub-ingest", "placehub-dispatch", "placehub-registry", "placehub-ctl"):
        result = subprocess.run([os.path.join(BIN, program), "-c", config, "--check-config"],
                                cwd=tmp_path, capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
        assert "configuration OK" in result.stdout
    line = next(n for n, text in enumerate(BASE.splitlines(), 1)
                if "file:.run/demo/keys/HOMES" in text)
    os.remove(keys / "HOMES")
    for program in ("placehub-dispatch", "placehub-ctl"):
        result = subprocess.run([os.path.join(BIN, program), "-c", config, "--check-config"],
                                cwd=tmp_path, capture_output=True, text=True, timeout=30)
        assert result.returncode == 1, result.stdout
        assert (f"{config}:{line}:" in result.stderr and "partner stockport-homes" in
                result.stderr and "secret file:.run/demo/keys/HOMES" in result.stderr), \
            result.stderr


def test_help_teaches(tmp_path):
    for program in ("placehub-ingest", "placehub-dispatch", "placehub-registry",
                    "placehub-partner-sim"):
        result = subprocess.run([os.path.join(BIN, program), "--help"], capture_output=True,
                                text=True, timeout=30)
        assert result.returncode == 0
        assert "Usage:" in result.stdout


def partner_config(tmp_path, connector, options):
    """The example configuration with its partners replaced by one using
    connector with options (in that order); returns (path, text)."""
    import yaml
    config = yaml.safe_load(BASE)
    config["schema_registry"]["schemas_dir"] = os.path.join(REPO, "schemas")
    config["partners"] = [{"id": "housing", "name": "Housing (example)", "connector": connector,
                           "topics": ["admission"], "options": options}]
    path = tmp_path / "partner.yaml"
    text = yaml.safe_dump(config, sort_keys=False)
    path.write_text(text)
    return path, text


def check_config(path):
    """dispatch's --check-config, with the secret CONNECTOR_OPTIONS name set:
    it reads every secret a partner's delivery needs."""
    return subprocess.run([os.path.join(BIN, "placehub-dispatch"), "-c", str(path),
                           "--check-config"], capture_output=True, text=True, timeout=30,
                          env=dict(os.environ, HOUSING_KEY="whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="))


# Each built-in connector with options it accepts, and a misspelling of one
# of them (its own or the host's) with what it should have been.
CONNECTOR_OPTIONS = [
    ("webhook", {"url": "https://housing.example/in", "signing_keys": "env:HOUSING_KEY"},
     "signing_key", "signing_keys"),
    ("fhir", {"url": "https://fhir.housing.example/R4", "identifier_base": "urn:placehub",
              "timeout_ms": "5000"}, "timout_ms", "timeout_ms"),
    ("mail", {"url": "smtp://mail.housing.example:587", "from": "placehub@hub.example.nhs.uk",
              "to": "duty@housing.example"}, "too", "to"),
    ("http", {"url": "https://housing.example/stays/{event_id}", "method": "PUT",
              "body_template": {"id": "{event_id}", "at": "{occurred_at}"}},
     "body_templat", "body_template"),
]


@pytest.mark.parametrize("connector,options,misspelt,meant", CONNECTOR_OPTIONS,
                         ids=[c[0] for c in CONNECTOR_OPTIONS])
def test_misspelt_connector_option_names_file_line_and_hint(connector, options, misspelt, meant,
                                                             tmp_path):
    # Spelt right, the configuration passes: the refusal below is the key's.
    path, _ = partner_config(tmp_path, connector, options)
    result = check_config(path)
    assert result.returncode == 0, result.stderr
    wrong = {(misspelt if key == meant else key): value for key, value in options.items()}
    path, text = partner_config(tmp_path, connector, wrong)
    line = next(number for number, content in enumerate(text.splitlines(), 1)
                if content.strip().startswith(f"{misspelt}:"))
    result = check_config(path)
    assert result.returncode == 1
    assert (f"{path}:{line}: partner housing: options.{misspelt}: unknown option '{misspelt}' "
            f"for connector {connector}; did you mean '{meant}'?") in result.stderr
    assert "configuration OK" not in result.stdout


def test_inline_secret_and_missing_required_option_are_refused(tmp_path):
    path, text = partner_config(tmp_path, "webhook", {"url": "https://housing.example/in",
                                                      "auth": "bearer",
                                                      "auth_token": "s3cr3t-t0ken"})
    result = check_config(path)
    assert result.returncode == 1
    line = next(number for number, content in enumerate(text.splitlines(), 1)
                if content.strip().startswith("auth_token:"))
    assert (f"{path}:{line}: partner housing: options.auth_token must name the secret as "
            "env:NAME or file:/path") in result.stderr
    assert "s3cr3t" not in result.stderr
    path, _ = partner_config(tmp_path, "mail", {"url": "smtp://mail.housing.example:587",
                                                "from": "placehub@hub.example.nhs.uk"})
    result = check_config(path)
    assert result.returncode == 1
    assert "partner housing: options.to is required by connector mail" in result.stderr


HTTP_REFUSALS = [
    # A field the partner's agreement withholds, in the URL or a nested body.
    ({"url": "https://housing.example/people/{person.nhs_number}"}, "url",
     "options.url: {person.nhs_number} is not a field any of the partner's agreements allows"),
    ({"url": "https://housing.example/in", "body_template": {"stay": {"where": "{wrad}"}}},
     "body_template", "options.body_template.stay.where: {wrad} is not a field any of the "
     "partner's agreements allows, nor a well-known name; did you mean {ward}?"),
    ({"url": "https://housing.example/in", "answers": {"600": "retry"}}, "answers",
     "options.answers: '600' is not an HTTP status: write a number from 100 to 599"),
    ({"url": "https://housing.example/in", "answers": {"422": "bin"}}, "answers",
     "options.answers.422: unknown outcome; write delivered, retry or dead_letter"),
    ({"url": "https://housing.example/in/{stay"}, "url",
     "options.url: '{' at position 28 is never closed; write {{ for a literal brace"),
    ({"url": "https://housing.example/in", "headers": {"Authorization": "Bearer s3cr3t"}},
     "headers", "options.headers.Authorization looks like a credential: name the secret as "
     "env:NAME or file:/path"),
]


@pytest.mark.parametrize("options,key,message", HTTP_REFUSALS,
                         ids=["withheld-field", "unknown-field", "status", "outcome", "syntax",
                              "clear-secret"])
def test_http_connector_mistakes_are_refused_at_start_up(options, key, message, tmp_path):
    """The http connector's templates and answer map, checked by dispatch's
    --check-config against the partner's agreement, with the option's line."""
    import yaml
    config = yaml.safe_load(BASE)
    config["schema_registry"]["schemas_dir"] = os.path.join(REPO, "schemas")
    config["partners"] = [{
        "id": "housing", "name": "Housing (example)", "connector": "http",
        "topics": ["admission"], "options": options,
        "agreements": [{"id": "housing-stays", "purpose": "p", "legal_basis": "l",
                        "event_types": ["admission"], "fields": ["ward", "admitted_at"]}]}]
    path = tmp_path / "http.yaml"
    text = yaml.safe_dump(config, sort_keys=False)
    path.write_text(text)
    line = next(number for number, content in enumerate(text.splitlines(), 1)
                if content.strip().startswith(f"{key}:"))
    result = check_config(path)
    assert result.returncode == 1, result.stdout
    assert f"{path}:{line}: partner housing: {message}" in result.stderr
    assert "s3cr3t" not in result.stderr
    # Put right (the option taken out, a URL on an allowed field), it passes.
    fixed = {k: v for k, v in options.items() if k != key}
    fixed["url"] = "https://housing.example/stays/{ward}"
    config["partners"][0]["options"] = fixed
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    assert check_config(path).returncode == 0


# A connector as version 1 of include/placehub/connector.h had it: the
# version as one unsigned first. Written out here, since the header has moved on.
VERSION_1_CONNECTOR = r"""
#include <stddef.h>
struct version_1_type {
    unsigned abi_version;
    const char *name;
    void *create, *prepare, *classify, *release, *destroy;
};
static int dummy;
const struct version_1_type placehub_connector = {
    1, "old", &dummy, &dummy, NULL, NULL, &dummy,
};
"""


def test_version_1_connector_is_refused_with_what_to_do(tmp_path):
    source = tmp_path / "old.c"
    source.write_text(VERSION_1_CONNECTOR)
    library = tmp_path / "old.so"
    subprocess.run([os.environ.get("CC", "cc"), "-std=c11", "-fPIC", "-shared", "-o",
                    str(library), str(source)], check=True)
    os.chmod(library, 0o755)
    os.chmod(tmp_path, 0o755)
    path, _ = partner_config(tmp_path, str(library), {"url": "https://housing.example/in"})
    result = check_config(path)
    assert result.returncode == 1
    assert (f"connector {library} was built for connector ABI version 1; this placehub speaks "
            "version 2.1 and no longer loads version 1 connectors: rebuild it against this "
            "placehub's include/placehub/connector.h") in result.stderr
