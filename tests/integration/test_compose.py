"""The Docker deployment agrees with itself.

docker-compose.yml, config/placehub.docker.yaml, the Dockerfile and
.dockerignore are read as data (no Docker engine needed) and checked against
each other: every address the config points at is a Compose service listening
on that port, ingest is published where it listens, topics are created by
someone, every placehub container mounts the config its command names, the
image holds the programs the commands run, healthchecks and depends_on fit
together. Finally placehub itself (--check-config) must accept the config.

Each check is a function returning a list of problems. test_* asserts the list
is empty for the real files; test_check_catches_* feeds each check a broken
copy and asserts it complains, so none of them can pass vacuously.
"""
import copy
import fnmatch
import os
import posixpath
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
CONFIG_FILE = ROOT / "config" / "placehub.docker.yaml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
MAKEFILE = ROOT / "Makefile"
INSTALL_DEPS = ROOT / "scripts" / "install-deps.sh"
BIN = ROOT / "build" / "bin"

# Programs that read the placehub configuration (-c); partner-sim does not.
CONFIG_PROGRAMS = {"placehub-ingest", "placehub-dispatch", "placehub-registry"}
# scripts/install-deps.sh -dev packages needed for tests only, not for `make`.
TEST_ONLY_DEV_PACKAGES = {"libcmocka-dev", "libclang-rt-14-dev"}
RESTART_POLICIES = {"always", "unless-stopped", "on-failure"}
DEPENDS_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


# --- loading ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deployment:
    compose: dict
    config: dict
    dockerfile: str
    dockerignore: str
    makefile: str
    install_deps: str


def load_deployment():
    for path in (COMPOSE_FILE, CONFIG_FILE, DOCKERFILE, DOCKERIGNORE):
        assert path.is_file(), f"{path.relative_to(ROOT)} is missing"
    with open(COMPOSE_FILE) as f:
        compose = yaml.safe_load(f)
    with open(CONFIG_FILE) as f:
        config = yaml.safe_load(f)
    assert isinstance(compose, dict) and isinstance(compose.get("services"), dict), (
        "docker-compose.yml has no services: mapping")
    assert isinstance(config, dict), "config/placehub.docker.yaml is not a YAML mapping"
    return Deployment(compose=compose, config=config, dockerfile=DOCKERFILE.read_text(),
                      dockerignore=DOCKERIGNORE.read_text(), makefile=MAKEFILE.read_text(),
                      install_deps=INSTALL_DEPS.read_text())


@pytest.fixture(scope="module")
def deployment():
    return load_deployment()


def mutated(d, change):
    """A deep copy of d's compose and config, changed in place by change()."""
    compose, config = copy.deepcopy(d.compose), copy.deepcopy(d.config)
    change(compose, config)
    return replace(d, compose=compose, config=config)


# --- reading Compose ------------------------------------------------------------------------


def services(d):
    return d.compose["services"]


def is_default(svc):
    """Started by a plain `docker compose up` (not only under a profile)."""
    return not svc.get("profiles")


def environment(svc):
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return {k: ("" if v is None else str(v)) for k, v in env.items()}


def command(svc):
    cmd = svc.get("command") or []
    return shlex.split(cmd) if isinstance(cmd, str) else [str(c) for c in cmd]


def program(svc):
    """The program a service runs (basename), or None."""
    cmd = command(svc)
    return posixpath.basename(cmd[0]) if cmd else None


def option(args, *names):
    """Value of --name VALUE / --name=VALUE / -c VALUE in args, or None."""
    for i, arg in enumerate(args):
        for name in names:
            if arg == name and i + 1 < len(args):
                return args[i + 1]
            if name.startswith("--") and arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def is_placehub_image(d, svc):
    """Built from this repository's Dockerfile, or using the image it builds."""
    def ours(s):
        build = s.get("build")
        if build is None:
            return False
        context = build if isinstance(build, str) else build.get("context", ".")
        dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        return (ROOT / context).resolve() == ROOT and (ROOT / context / dockerfile).resolve() == DOCKERFILE
    if ours(svc):
        return True
    built = {s.get("image") for s in services(d).values() if ours(s) and s.get("image")}
    return svc.get("image") in built


def split_hostport(text, default_port=None):
    """'kafka:9092', 'PLAINTEXT://kafka:9092', 'http://h:8081/x' -> ('kafka', 9092)."""
    text = text.strip()
    if "://" not in text:
        text = "x://" + text
    parts = urlsplit(text)
    port = parts.port
    if port is None:
        port = default_port or {"http": 80, "https": 443}.get(parts.scheme)
    return (parts.hostname or "", port)


def listeners(d, name):
    """[(bind host, port)] the service's process listens on inside its container."""
    svc = services(d)[name]
    env = environment(svc)
    found = []
    if "KAFKA_LISTENERS" in env:
        for item in env["KAFKA_LISTENERS"].split(","):
            listener, _, address = item.strip().partition("://")
            host, _, port = address.rpartition(":")
            found.append((host or "0.0.0.0", int(port)))
    if "SCHEMA_REGISTRY_LISTENERS" in env:
        found += [split_hostport(u) for u in env["SCHEMA_REGISTRY_LISTENERS"].split(",")]
    prog, args, config = program(svc), command(svc), d.config
    if prog == "placehub-ingest":
        found.append(split_hostport(config["ingest"]["listen"]))
    elif prog == "placehub-registry":
        found.append(split_hostport(config["schema_registry"]["listen"]))
    elif prog == "placehub-console":
        found.append(split_hostport(config["console"]["listen"]))
    elif prog == "placehub-partner-sim":
        # The program's default (services/partner-sim/partner_sim.h).
        found.append(split_hostport(option(args, "--listen") or "127.0.0.1:9101"))
    # The operators' listeners (operations: in the config; lib/net/operations.c).
    operations_key = {"placehub-ingest": "ingest_listen", "placehub-dispatch": "dispatch_listen",
                      "placehub-mllp": "mllp_listen"}.get(prog)
    if operations_key and (config.get("operations") or {}).get(operations_key):
        found.append(split_hostport(config["operations"][operations_key]))
    # Monitoring images, on their documented default ports.
    image = str(svc.get("image", ""))
    if image.startswith("prom/prometheus:"):
        found.append(("0.0.0.0", 9090))
    if image.startswith("grafana/grafana:"):
        found.append(("0.0.0.0", 3000))
    return found


def kafka_listeners(svc):
    """{listener name: (bind host, port)}, {listener name: (advertised host, port)}."""
    env = environment(svc)

    def parse(value):
        result = {}
        for item in value.split(","):
            if not item.strip():
                continue
            listener, _, address = item.strip().partition("://")
            host, _, port = address.rpartition(":")
            result[listener] = (host, int(port))
        return result
    return parse(env.get("KAFKA_LISTENERS", "")), parse(env.get("KAFKA_ADVERTISED_LISTENERS", ""))


def kafka_services(d):
    return {n: s for n, s in services(d).items() if "KAFKA_PROCESS_ROLES" in environment(s)}


def service_for_host(d, host):
    """The Compose service a hostname reaches on the project network, or None."""
    for name, svc in services(d).items():
        aliases = {name, svc.get("hostname"), svc.get("container_name")}
        networks = svc.get("networks")
        if isinstance(networks, dict):
            for net in networks.values():
                aliases.update((net or {}).get("aliases") or [])
        if host in aliases:
            return name
    return None


def published_ports(svc):
    """[(host_ip, published, target)] from short or long port syntax."""
    result = []
    for entry in svc.get("ports") or []:
        if isinstance(entry, dict):
            result.append((entry.get("host_ip", ""), str(entry.get("published", "")),
                           int(entry["target"])))
            continue
        spec = str(entry).split("/")[0]
        parts = spec.rsplit(":", 2) if spec.count(":") >= 2 else spec.split(":")
        if len(parts) == 3:
            result.append((parts[0], parts[1], int(parts[2])))
        elif len(parts) == 2:
            result.append(("", parts[0], int(parts[1])))
        else:
            result.append(("", "", int(parts[0])))
    return result


def healthcheck_text(svc):
    hc = svc.get("healthcheck") or {}
    test = hc.get("test")
    return " ".join(test) if isinstance(test, list) else str(test or "")


def depends_on(svc):
    """{target: condition}; a list form has no conditions (None)."""
    deps = svc.get("depends_on") or {}
    if isinstance(deps, list):
        return {t: None for t in deps}
    return {t: (v or {}).get("condition") for t, v in deps.items()}


def volume_mounts(svc):
    """[(source, target, read_only)] from short or long volume syntax."""
    result = []
    for entry in svc.get("volumes") or []:
        if isinstance(entry, dict):
            result.append((entry.get("source"), entry.get("target"), bool(entry.get("read_only"))))
        else:
            parts = str(entry).split(":")
            mode = parts[2] if len(parts) > 2 else ""
            result.append((parts[0], parts[1] if len(parts) > 1 else parts[0],
                           "ro" in mode.split(",")))
    return result


def parse_duration_ms(text):
    """Compose durations: '20s', '1m30s', '500ms' -> milliseconds."""
    units = {"h": 3600000, "m": 60000, "s": 1000, "ms": 1, "us": 0.001}
    total, pos = 0.0, 0
    for match in re.finditer(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", str(text)):
        assert match.start() == pos, f"cannot read duration {text!r}"
        total += float(match.group(1)) * units[match.group(2)]
        pos = match.end()
    assert pos == len(str(text)) and pos, f"cannot read duration {text!r}"
    return total


# --- reading the config ---------------------------------------------------------------------


def config_addresses(config):
    """[(what, host, port)] every network address the config points at."""
    result = [("kafka.bootstrap_servers", *split_hostport(s))
              for s in config["kafka"]["bootstrap_servers"].split(",") if s.strip()]
    registry = config.get("schema_registry") or {}
    if registry.get("mode") == "external":
        result.append(("schema_registry.url", *split_hostport(registry["url"])))
    console = config.get("console") or {}
    for key in ("ingest_url", "dispatch_url", "mllp_url"):
        if console.get(key):
            result.append((f"console.{key}", *split_hostport(console[key])))
    for partner in config.get("partners") or []:
        url = (partner.get("options") or {}).get("url")
        if url:
            result.append((f"partner {partner['id']} options.url", *split_hostport(url)))
    return result


# --- reading the Dockerfile -----------------------------------------------------------------


def dockerfile_stages(text):
    """[{'name', 'image', 'instructions': [(INSTR, rest)]}] with global ARGs expanded."""
    lines, buf = [], ""
    for raw in text.splitlines():
        s = raw.strip()
        if s.startswith("#") or (not s and not buf):
            continue
        if s.endswith("\\"):
            buf += s[:-1] + " "
            continue
        lines.append(buf + s)
        buf = ""
    if buf:
        lines.append(buf)
    global_args, stages = {}, []
    for line in lines:
        instr, _, rest = line.partition(" ")
        instr, rest = instr.upper(), rest.strip()
        if instr == "ARG" and not stages:
            key, _, value = rest.partition("=")
            global_args[key] = value.strip('"')
        elif instr == "FROM":
            words = [w for w in rest.split() if not w.startswith("--")]
            image = re.sub(r"\$\{?(\w+)\}?", lambda m: global_args.get(m.group(1), m.group(0)),
                           words[0])
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else str(len(stages))
            stages.append({"name": name, "image": image, "instructions": []})
        elif stages:
            stages[-1]["instructions"].append((instr, rest))
    return stages


def copies(stage):
    """[(from stage or None, [sources], dest)] of a stage's COPY/ADD lines."""
    result = []
    for instr, rest in stage["instructions"]:
        if instr not in ("COPY", "ADD"):
            continue
        words = shlex.split(rest) if not rest.startswith("[") else yaml.safe_load(rest)
        flags = [w for w in words if w.startswith("--")]
        args = [w for w in words if not w.startswith("--")]
        source_stage = next((f.split("=", 1)[1] for f in flags if f.startswith("--from=")), None)
        result.append((source_stage, args[:-1], args[-1]))
    return result


def stage_env_path(stage):
    path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    for instr, rest in stage["instructions"]:
        if instr == "ENV":
            for word in shlex.split(rest):
                if word.startswith("PATH="):
                    path = word[5:].replace("$PATH", path).replace("${PATH}", path)
    return path.split(":")


def stage_workdir(stage):
    workdir = "/"
    for instr, rest in stage["instructions"]:
        if instr == "WORKDIR":
            workdir = posixpath.join(workdir, rest.strip())
    return workdir


def apt_packages(stage):
    packages = []
    for instr, rest in stage["instructions"]:
        if instr == "RUN" and "apt-get install" in rest:
            for part in rest.split("&&"):
                if "apt-get install" in part:
                    packages += [w for w in part.split("apt-get install", 1)[1].split()
                                 if not w.startswith("-") and "=" not in w]
    return packages


def container_config_path(d, svc):
    """The absolute path of the config a service's -c names, or None."""
    path = option(command(svc), "-c", "--config")
    if path is not None and not path.startswith("/"):  # relative to the image's WORKDIR
        path = posixpath.join(stage_workdir(dockerfile_stages(d.dockerfile)[-1]), path)
    return path


def makefile_programs(makefile):
    match = re.search(r"^SERVICES\s*:?=\s*(.+)$", makefile, re.M)
    assert match, "Makefile has no SERVICES := line"
    return {f"placehub-{s}" for s in match.group(1).split()}


def dockerignore_excludes(dockerignore, path):
    """Docker's rule, simplified: last matching pattern wins; a matching
    folder excludes what is inside it."""
    excluded = False
    parents = [posixpath.join(*path.split("/")[:i]) for i in range(1, path.count("/") + 2)]
    for line in dockerignore.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        if any(fnmatch.fnmatchcase(p, pattern) for p in parents):
            excluded = not negate
    return excluded


# --- the checks -------------------------------------------------------------------------------


def check_services_present(d):
    wanted = ["kafka", "schema-registry", "ingest", "dispatch", "registry", "partner-housing",
              "partner-leisure", "console"]
    return [f"docker-compose.yml has no service {name!r}" for name in wanted
            if name not in services(d)]


def check_addresses_reach_services(d):
    """Each host:port of the config is a default service listening there."""
    problems = []
    for what, host, port in config_addresses(d.config):
        name = service_for_host(d, host)
        if name is None:
            problems.append(f"{what} names host {host!r}, but no Compose service is called that "
                            f"(services: {', '.join(services(d))})")
            continue
        if not is_default(services(d)[name]):
            problems.append(f"{what} points at {name}, which only runs under profile(s) "
                            f"{services(d)[name]['profiles']}: `docker compose up` won't start it")
        bound = listeners(d, name)
        ports = {p for _, p in bound}
        if port not in ports:
            problems.append(f"{what} is {host}:{port}, but service {name} listens on "
                            f"{sorted(ports) or 'no known port'}")
        for bind_host, p in bound:
            if p == port and bind_host in ("127.0.0.1", "localhost"):
                problems.append(f"{what}: service {name} binds {bind_host}:{p}, which other "
                                f"containers cannot reach; listen on 0.0.0.0")
    return problems


def check_kafka_advertises_bootstrap(d):
    """A client follows the advertised address: kafka must advertise exactly
    the host:port the config bootstraps from, on a listener that binds it."""
    problems = []
    wanted_protocol = str((d.config["kafka"].get("properties") or {})
                          .get("security.protocol", "PLAINTEXT")).upper()
    addresses = [("kafka.bootstrap_servers", s) for s in
                 d.config["kafka"]["bootstrap_servers"].split(",")]
    for name, svc in services(d).items():
        store = environment(svc).get("SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS")
        if store:
            addresses += [(f"{name} SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS", s)
                          for s in store.split(",")]
    for what, address in addresses:
        host, port = split_hostport(address)
        name = service_for_host(d, host)
        if name is None or name not in kafka_services(d):
            problems.append(f"{what} {host}:{port} is not a Kafka service of docker-compose.yml "
                            f"(Kafka services: {', '.join(kafka_services(d)) or 'none'})")
            continue
        env = environment(services(d)[name])
        bound, advertised = kafka_listeners(services(d)[name])
        listener = next((ln for ln, hp in advertised.items() if hp == (host, port)), None)
        if listener is None:
            problems.append(f"{what} is {host}:{port}, but {name} advertises "
                            f"{env.get('KAFKA_ADVERTISED_LISTENERS')!r}: clients would be "
                            f"redirected elsewhere")
            continue
        if listener not in bound or bound[listener][1] != port:
            problems.append(f"{name} advertises {listener}://{host}:{port} but KAFKA_LISTENERS "
                            f"({env.get('KAFKA_LISTENERS')!r}) binds {listener} elsewhere")
        protocols = dict(item.split(":", 1) for item in
                         env.get("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "").split(",") if item)
        protocol = protocols.get(listener, listener).upper()
        if what.startswith("kafka.") and protocol != wanted_protocol:
            problems.append(f"{name} listener {listener} speaks {protocol}, but the config's "
                            f"kafka.properties security.protocol is {wanted_protocol}")
    return problems


def check_ingest_published(d):
    """ingest.listen's port is what Compose publishes for ingest, on all
    interfaces inside the container (or port publishing cannot reach it)."""
    problems = []
    host, port = split_hostport(d.config["ingest"]["listen"])
    ingest = [n for n, s in services(d).items() if program(s) == "placehub-ingest"]
    if not ingest:
        return ["no service runs placehub-ingest"]
    for name in ingest:
        targets = {t for _, _, t in published_ports(services(d)[name])}
        if port not in targets:
            problems.append(f"ingest.listen is {host}:{port}, but service {name} publishes "
                            f"container port(s) {sorted(targets) or 'none'}")
        if host not in ("0.0.0.0", ""):
            problems.append(f"ingest.listen is {host}:{port}: inside a container only 0.0.0.0 "
                            f"is reachable through a published port")
    return problems


def check_ports_loopback_only(d):
    return [f"service {name} publishes {published or target} on {host_ip or 'all interfaces'}; "
            f"publish on 127.0.0.1 only (\"127.0.0.1:{published or target}:{target}\")"
            for name, svc in services(d).items()
            for host_ip, published, target in published_ports(svc)
            if host_ip != "127.0.0.1"]


def check_published_ports_unique(d):
    seen, problems = {}, []
    for name, svc in services(d).items():
        for host_ip, published, _ in published_ports(svc):
            key = (host_ip, published)
            if published and key in seen:
                problems.append(f"services {seen[key]} and {name} both publish {host_ip}:{published}")
            seen[key] = name
    return problems


def check_topics_created(d):
    """Auto-creation is off, so somebody must create the config's topics:
    an init service in Compose, or placehub-ingest (lib/kafka/kafka.c) before dispatch."""
    problems = []
    brokers = 0
    for name, svc in kafka_services(d).items():
        env = environment(svc)
        if env.get("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "true").lower() != "false":
            problems.append(f"{name}: set KAFKA_AUTO_CREATE_TOPICS_ENABLE \"false\" (topics "
                            f"come from the config, a typo must not create one)")
        if "broker" in env["KAFKA_PROCESS_ROLES"].split(","):
            brokers += 1
    if not brokers:
        return problems + ["docker-compose.yml has no Kafka broker (KAFKA_PROCESS_ROLES broker)"]
    names = [t["name"] for t in d.config["topics"]]
    for topic in d.config["topics"]:
        if topic["replication_factor"] > brokers:
            problems.append(f"topic {topic['name']}: replication_factor "
                            f"{topic['replication_factor']} > {brokers} broker(s) in Compose; "
                            f"creating it would fail")
    for name, svc in services(d).items():
        rf = environment(svc).get("SCHEMA_REGISTRY_KAFKASTORE_TOPIC_REPLICATION_FACTOR")
        if "SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS" in environment(svc) and \
                int(rf or 3) > brokers:
            problems.append(f"{name}: _schemas replication factor {rf or '3 (default)'} > "
                            f"{brokers} broker(s)")
    inits = {n: s for n, s in services(d).items()
             if "kafka-topics" in " ".join(command(s) + [str(s.get("entrypoint", ""))])
             and "--create" in " ".join(command(s))}
    if inits:
        created = set()
        for svc in inits.values():
            created.update(re.findall(r"--topic[= ]+([\w.-]+)", " ".join(command(svc))))
        if created != set(names):
            problems.append(f"init service(s) {', '.join(inits)} create {sorted(created)}, "
                            f"the config declares {sorted(names)}")
        return problems
    ingest = [n for n, s in services(d).items()
              if program(s) == "placehub-ingest" and is_default(s)]
    if not ingest:
        return problems + ["no init service creates the topics and no default service runs "
                           "placehub-ingest (which creates them)"]
    for name, svc in services(d).items():
        if program(svc) == "placehub-dispatch":
            deps = depends_on(svc)
            if not any(deps.get(i) == "service_healthy" for i in ingest):
                problems.append(f"{name} subscribes to topics placehub-ingest creates: add "
                                f"depends_on {ingest[0]}: condition: service_healthy")
    return problems


def check_config_mounts(d):
    """Every placehub container that reads a config names it with -c and
    mounts config/placehub.docker.yaml read-only at exactly that path."""
    problems = []
    for name, svc in services(d).items():
        if not is_placehub_image(d, svc):
            continue
        prog = program(svc)
        if prog is None:
            problems.append(f"{name}: no command; say which placehub program it runs")
            continue
        if prog not in CONFIG_PROGRAMS:
            continue
        path = container_config_path(d, svc)
        if path is None:
            problems.append(f"{name}: {prog} without -c would read the image's "
                            f"config/placehub.yaml (the 127.0.0.1 dev config); pass -c")
            continue
        mount = next(((s, t, ro) for s, t, ro in volume_mounts(svc)
                      if t in (path, posixpath.dirname(path))), None)
        if mount is None:
            problems.append(f"{name} runs {prog} -c {path} but mounts nothing there "
                            f"(mounts: {[t for _, t, _ in volume_mounts(svc)]})")
            continue
        source, target, read_only = mount
        host_file = (ROOT / source).resolve()
        if target != path:
            host_file = host_file / posixpath.basename(path)
        if host_file != CONFIG_FILE:
            problems.append(f"{name} mounts {source} at {target}: expected "
                            f"./config/placehub.docker.yaml (the file this test checks)")
        if not read_only:
            problems.append(f"{name}: mount the config read-only (read_only: true or :ro)")
    return problems


def check_schemas_in_image(d):
    """schemas_dir is resolved against the config file's folder: in the
    container that folder's ../schemas must be where the image copies schemas/."""
    problems = []
    runtime = dockerfile_stages(d.dockerfile)[-1]
    schema_dests = [posixpath.normpath(dest) for src_stage, sources, dest in copies(runtime)
                    if src_stage is None and any(s.strip("/") == "schemas" for s in sources)]
    if not schema_dests:
        return ["the Dockerfile's runtime stage does not COPY schemas/"]
    schemas_dir = d.config["schema_registry"].get("schemas_dir", "../schemas")
    for name, svc in services(d).items():
        path = container_config_path(d, svc)
        if not is_placehub_image(d, svc) or path is None:
            continue
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), schemas_dir))
        if resolved not in schema_dests:
            problems.append(f"{name}: schemas_dir {schemas_dir!r} next to {path} is {resolved}, "
                            f"but the image has schemas/ at {schema_dests}")
    return problems


def check_image_has_programs(d):
    """The runtime stage copies the build stage's programs to where the
    commands find them (PATH or absolute), and `make` builds them."""
    problems = []
    stages = dockerfile_stages(d.dockerfile)
    if len(stages) < 2:
        return [f"the Dockerfile should be multi-stage (build, runtime); found {len(stages)}"]
    runtime = stages[-1]
    by_name = {s["name"]: s for s in stages}
    built = makefile_programs(d.makefile)
    # folder in the image -> programs that end up in it
    in_image = {}
    for src_stage, sources, dest in copies(runtime):
        if src_stage is None:
            continue
        stage = by_name.get(src_stage) or (stages[int(src_stage)] if src_stage.isdigit() else None)
        if stage is None:
            problems.append(f"COPY --from={src_stage}: no such stage")
            continue
        if not any(i == "RUN" and re.search(r"\bmake\b", r) for i, r in stage["instructions"]):
            problems.append(f"stage {src_stage} never runs make, yet the runtime copies from it")
        bin_dir = posixpath.join(stage_workdir(stage), "build/bin")
        for source in sources:
            source = posixpath.join(stage_workdir(stage), source)
            if posixpath.normpath(source) == bin_dir:
                in_image.setdefault(posixpath.normpath(dest), set()).update(built)
            elif posixpath.dirname(source) == bin_dir:
                target = dest if not dest.endswith("/") else posixpath.join(dest, posixpath.basename(source))
                in_image.setdefault(posixpath.dirname(target), set()).add(posixpath.basename(source))
    path = stage_env_path(runtime)
    for name, svc in services(d).items():
        if not is_placehub_image(d, svc):
            continue
        cmd = command(svc)
        if not cmd:
            continue
        prog = cmd[0]
        if prog.startswith("/"):
            found = prog.rsplit("/", 1)[1] in in_image.get(posixpath.dirname(prog), set())
        else:
            found = any(prog in in_image.get(posixpath.normpath(p), set()) for p in path)
        if not found:
            problems.append(f"{name} runs {prog!r}, which the Dockerfile's runtime stage does not "
                            f"copy onto PATH (copied: { {k: sorted(v) for k, v in in_image.items()} }, "
                            f"PATH {':'.join(path)})")
        if posixpath.basename(prog) not in built:
            problems.append(f"{name} runs {prog!r}; make builds only {sorted(built)}")
    return problems


def check_dockerfile_runtime(d):
    problems = []
    stages = dockerfile_stages(d.dockerfile)
    for stage in stages:
        if stage["image"] != "debian:bookworm-slim":
            problems.append(f"stage {stage['name']} is FROM {stage['image']}; use "
                            f"debian:bookworm-slim (the Debian 12 of scripts/install-deps.sh)")
    build, runtime = stages[0], stages[-1]
    wanted_dev = set(re.findall(r"\b(lib[\w.+-]*-dev|uuid-dev)\b", d.install_deps)) - TEST_ONLY_DEV_PACKAGES
    missing = wanted_dev - set(apt_packages(build))
    if missing:
        problems.append(f"build stage does not install {sorted(missing)} "
                        f"(scripts/install-deps.sh)")
    dev_in_runtime = [p for p in apt_packages(runtime)
                      if p.endswith("-dev") or p in ("build-essential", "gcc", "clang", "make")]
    if dev_in_runtime:
        problems.append(f"runtime stage installs build packages {dev_in_runtime}")
    users = [rest.split(":")[0] for instr, rest in runtime["instructions"] if instr == "USER"]
    if not users or users[-1] in ("root", "0"):
        problems.append("runtime stage must end on a non-root USER")
    for stage in stages:
        for instr, rest in stage["instructions"]:
            if instr in ("ENV", "ARG") and re.search(r"PASSWORD|SECRET|TOKEN|PRIVATE_KEY|API_KEY",
                                                     rest, re.I):
                problems.append(f"{instr} {rest}: secrets do not belong in the image")
            if instr in ("COPY", "ADD") and re.search(r"\.env\b|\.pem\b|\.key\b", rest):
                problems.append(f"{instr} {rest}: secrets do not belong in the image")
    return problems


def check_healthcheck_tools_in_image(d):
    """A healthcheck that runs curl needs curl in the image."""
    runtime = dockerfile_stages(d.dockerfile)[-1]
    return [f"{name}'s healthcheck runs curl, which the runtime stage does not install"
            for name, svc in services(d).items()
            if is_placehub_image(d, svc) and re.search(r"\bcurl\b", healthcheck_text(svc))
            and "curl" not in apt_packages(runtime)]


def check_dockerignore(d):
    """The build context keeps what the Dockerfile copies and drops build
    output, caches and .git."""
    problems = []
    for stage in dockerfile_stages(d.dockerfile):
        for src_stage, sources, _ in copies(stage):
            if src_stage is not None:
                continue
            for source in sources:
                source = source.strip("/")
                files = [source] if (ROOT / source).is_file() else [
                    str(p.relative_to(ROOT)) for p in (ROOT / source).rglob("*") if p.is_file()]
                if not files:
                    problems.append(f"COPY {source}: nothing there in the repository")
                ignored = [f for f in files if dockerignore_excludes(d.dockerignore, f)
                           and not re.search(r"\.(o|d|a)$", f)]
                if ignored:
                    problems.append(f".dockerignore drops {ignored[:5]} which COPY {source} needs")
    for path in ("build/bin/placehub-ingest", ".git/HEAD", ".cache/venv/bin/python", ".env"):
        if not dockerignore_excludes(d.dockerignore, path):
            problems.append(f".dockerignore lets {path} into the build context")
    return problems


def check_healthchecks(d):
    """Every service has one, and the addresses it probes are ones the
    service listens on (or the config's own targets)."""
    problems = []
    targets = {(h, p) for _, h, p in config_addresses(d.config)}
    for name, svc in services(d).items():
        hc = svc.get("healthcheck") or {}
        test = hc.get("test")
        if hc.get("disable") or not test or test in (["NONE"], "NONE"):
            problems.append(f"service {name} has no healthcheck")
            continue
        text = healthcheck_text(svc)
        ports = {p for _, p in listeners(d, name)}
        for port in re.findall(r"(?:localhost|127\.0\.0\.1):(\d+)", text):
            if int(port) not in ports:
                problems.append(f"{name}'s healthcheck probes port {port}, but it listens on "
                                f"{sorted(ports) or 'nothing known'}")
        for host, port in re.findall(r"/dev/tcp/([\w.-]+)/(\d+)", text):
            if (host, int(port)) not in targets and int(port) not in ports:
                problems.append(f"{name}'s healthcheck connects to {host}:{port}, which is "
                                f"neither its own port nor an address of the config "
                                f"({sorted(f'{h}:{p}' for h, p in targets)})")
    return problems


def check_depends_on(d):
    """Conditions everywhere; service_healthy only on services with a
    healthcheck; and each service waits for what its configuration names."""
    problems = []
    for name, svc in services(d).items():
        for target, condition in depends_on(svc).items():
            if target not in services(d):
                problems.append(f"{name} depends on unknown service {target}")
                continue
            if condition not in DEPENDS_CONDITIONS:
                problems.append(f"{name} depends on {target} without a condition "
                                f"(use the long form: condition: service_healthy)")
            if condition == "service_healthy" and not services(d)[target].get("healthcheck"):
                problems.append(f"{name} waits for {target} to be healthy; {target} has no "
                                f"healthcheck")
            if is_default(svc) and not is_default(services(d)[target]):
                problems.append(f"{name} depends on {target}, which only runs under a profile")
        needed = []
        prog = program(svc)
        if prog in ("placehub-ingest", "placehub-dispatch", "placehub-console"):
            # Partners' urls are dispatch's; the console's urls the console's.
            needed = [(w, h) for w, h, _ in config_addresses(d.config)
                      if (not w.startswith("partner") or prog == "placehub-dispatch")
                      and (not w.startswith("console.") or prog == "placehub-console")]
        store = environment(svc).get("SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS")
        if store:
            needed = [("kafkastore", split_hostport(s)[0]) for s in store.split(",")]
        for what, host in needed:
            target = service_for_host(d, host)
            if target and depends_on(svc).get(target) != "service_healthy":
                problems.append(f"{name} uses {target} ({what}) but does not wait for it: "
                                f"depends_on {target}: condition: service_healthy")
    return problems


def check_restart_policies(d):
    return [f"service {name} has no restart policy (restart: unless-stopped)"
            for name, svc in services(d).items()
            if svc.get("restart") not in RESTART_POLICIES
            and not ((svc.get("deploy") or {}).get("restart_policy"))]


def check_kafka_volume(d):
    problems = []
    declared = set((d.compose.get("volumes") or {}).keys())
    for name, svc in kafka_services(d).items():
        log_dirs = environment(svc).get("KAFKA_LOG_DIRS", "/tmp/kraft-combined-logs")
        for log_dir in log_dirs.split(","):
            mount = next(((s, t) for s, t, _ in volume_mounts(svc) if t == log_dir), None)
            if mount is None:
                problems.append(f"{name}: KAFKA_LOG_DIRS {log_dir} is not on a volume; topics "
                                f"would vanish with the container")
            elif mount[0] not in declared:
                problems.append(f"{name}: {log_dir} is on {mount[0]!r}, not a named volume "
                                f"declared under volumes:")
    return problems


def check_prometheus_rules(d):
    """Prometheus reads its config and the alert rules from this repository:
    each file prometheus.yml names under rule_files is mounted read-only
    from deploy/prometheus/, and together they hold the placehub alerts
    (tests/prometheus/ tests them with promtool)."""
    problems = []
    for name, svc in services(d).items():
        if not str(svc.get("image", "")).startswith("prom/prometheus:"):
            continue
        mounts = {t: (s, ro) for s, t, ro in volume_mounts(svc)}
        args = command(svc)
        config_path = next((a.split("=", 1)[1] for a in args
                            if a.startswith("--config.file=")), "/etc/prometheus/prometheus.yml")
        if config_path not in mounts:
            problems.append(f"{name}: {config_path} is not mounted from the repository")
            continue
        config = yaml.safe_load((ROOT / mounts[config_path][0]).read_text())
        rule_files = config.get("rule_files") or []
        if not rule_files:
            problems.append(f"{name}: {mounts[config_path][0]} has no rule_files: no alerts")
        alerts = set()
        for rule_file in rule_files:
            path = posixpath.join(posixpath.dirname(config_path), rule_file)
            if path not in mounts:
                problems.append(f"{name}: rule file {path} is not mounted "
                                f"(mounts: {sorted(mounts)})")
                continue
            source, read_only = mounts[path]
            host_file = ROOT / source
            if not read_only:
                problems.append(f"{name}: {path} mounted writable")
            if not host_file.is_file() or (ROOT / "deploy" / "prometheus") not in \
                    host_file.resolve().parents:
                problems.append(f"{name}: {path} comes from {source}, not a file in "
                                f"deploy/prometheus/")
                continue
            for group in yaml.safe_load(host_file.read_text())["groups"]:
                alerts.update(rule["alert"] for rule in group["rules"] if "alert" in rule)
        wanted = {"PlacehubPartnerCircuitOpen", "PlacehubConsumerLagGrowing",
                  "PlacehubDeadLettersHigh", "PlacehubIngestUnavailable",
                  "PlacehubBrokerUnavailable", "PlacehubNoEventsIngested"}
        if rule_files and not wanted <= alerts:
            problems.append(f"{name}: alerts missing from its rule files: "
                            f"{sorted(wanted - alerts)}")
    return problems


def check_ingest_stop_grace(d):
    """On `docker compose stop` ingest flushes for produce_timeout_ms + 1 s
    (services/ingest/ingest.c); Compose must not SIGKILL it earlier."""
    flush_ms = d.config["ingest"].get("produce_timeout_ms", 10000) + 1000
    problems = []
    for name, svc in services(d).items():
        if program(svc) == "placehub-ingest":
            grace = parse_duration_ms(svc.get("stop_grace_period", "10s"))
            if grace <= flush_ms:
                problems.append(f"{name}: stop_grace_period {svc.get('stop_grace_period', '10s')} "
                                f"<= produce_timeout_ms + 1 s ({flush_ms} ms)")
    return problems


CHECKS = [check_services_present, check_addresses_reach_services,
          check_kafka_advertises_bootstrap, check_ingest_published, check_ports_loopback_only,
          check_published_ports_unique, check_topics_created, check_config_mounts,
          check_schemas_in_image, check_image_has_programs, check_dockerfile_runtime,
          check_healthcheck_tools_in_image, check_dockerignore, check_healthchecks,
          check_depends_on, check_restart_policies, check_kafka_volume, check_ingest_stop_grace,
          check_prometheus_rules]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__[len("check_"):])
def test_deployment(deployment, check):
    problems = check(deployment)
    assert not problems, "\n  ".join([f"{check.__doc__ or check.__name__}".strip()] + problems)


# --- each check can fail ------------------------------------------------------------------------


def _set(path, value):
    """A mutation setting compose/config[path...] = value; path[0] picks the document."""
    def change(compose, config):
        node = compose if path[0] == "compose" else config
        for key in path[1:-1]:
            node = node[key]
        node[path[-1]] = value
    return change


def _svc(name, key, value):
    return _set(("compose", "services", name, key), value)


def _env(name, key, value):
    return _set(("compose", "services", name, "environment", key), value)


def _del(name, key):
    def change(compose, config):
        compose["services"][name].pop(key, None)
    return change


def _partner_url(index, url):
    def change(compose, config):
        config["partners"][index]["options"]["url"] = url
    return change


def _dockerfile(old, new):
    def change(d):
        assert old in d.dockerfile, f"test setup: {old!r} not in the Dockerfile"
        return replace(d, dockerfile=d.dockerfile.replace(old, new))
    return change


BREAKAGES = [
    ("bootstrap on an unknown host", check_addresses_reach_services,
     _set(("config", "kafka", "bootstrap_servers"), "broker:9092")),
    ("bootstrap on a port kafka does not bind", check_addresses_reach_services,
     _set(("config", "kafka", "bootstrap_servers"), "kafka:9999")),
    ("bootstrap not advertised", check_kafka_advertises_bootstrap,
     _env("kafka", "KAFKA_ADVERTISED_LISTENERS", "PLAINTEXT://localhost:9092,HOST://127.0.0.1:9094")),
    ("TLS client, plaintext listener", check_kafka_advertises_bootstrap,
     _set(("config", "kafka", "properties"), {"security.protocol": "SSL"})),
    ("registry url on the wrong port", check_addresses_reach_services,
     _set(("config", "schema_registry", "url"), "http://schema-registry:8085")),
    ("partner url names no service", check_addresses_reach_services,
     _partner_url(0, "http://partner-housing-typo:9101/placehub/events")),
    ("partner url on another port", check_addresses_reach_services,
     _partner_url(1, "http://partner-leisure:9101/placehub/events")),
    ("partner sim bound to loopback", check_addresses_reach_services,
     _svc("partner-housing", "command",
          ["placehub-partner-sim", "--name", "x", "--listen", "127.0.0.1:9101"])),
    ("ingest listens on another port", check_ingest_published,
     _set(("config", "ingest", "listen"), "0.0.0.0:8090")),
    ("ingest listens on loopback", check_ingest_published,
     _set(("config", "ingest", "listen"), "127.0.0.1:8080")),
    ("port on all interfaces", check_ports_loopback_only, _svc("ingest", "ports", ["8080:8080"])),
    ("same host port twice", check_published_ports_unique,
     _svc("registry", "ports", ["127.0.0.1:8081:8081"])),
    ("auto-create on", check_topics_created, _env("kafka", "KAFKA_AUTO_CREATE_TOPICS_ENABLE", "true")),
    ("replication factor above broker count", check_topics_created,
     _set(("config", "topics", 0, "replication_factor"), 3)),
    ("dispatch does not wait for ingest", check_topics_created,
     _set(("compose", "services", "dispatch", "depends_on", "ingest"),
          {"condition": "service_started"})),
    ("init creates other topics", check_topics_created,
     _set(("compose", "services", "topics-init"),
          {"image": "apache/kafka", "command": ["kafka-topics.sh", "--create", "--topic", "admission"]})),
    ("dispatch mounts no config", check_config_mounts, _svc("dispatch", "volumes", [])),
    ("config mounted writable", check_config_mounts,
     _svc("ingest", "volumes", ["./config/placehub.docker.yaml:/opt/placehub/config/placehub.docker.yaml"])),
    ("config path differs from mount", check_config_mounts,
     _svc("ingest", "command", ["placehub-ingest", "-c", "/etc/placehub.yaml"])),
    ("dev config mounted", check_config_mounts,
     _svc("registry", "volumes", ["./config/placehub.yaml:/opt/placehub/config/placehub.docker.yaml:ro"])),
    ("no -c", check_config_mounts, _svc("dispatch", "command", ["placehub-dispatch"])),
    ("schemas_dir misses the image's schemas", check_schemas_in_image,
     _set(("config", "schema_registry", "schemas_dir"), "schemas")),
    ("command the image lacks", check_image_has_programs,
     _svc("dispatch", "command", ["placehub-dispatcher", "-c", "/x.yaml"])),
    ("no healthcheck", check_healthchecks, _del("ingest", "healthcheck")),
    ("healthcheck on the wrong port", check_healthchecks,
     _svc("partner-leisure", "healthcheck", {"test": ["CMD", "curl", "-f", "http://127.0.0.1:9101/_sim/healthz"]})),
    ("dispatch healthcheck on a stale broker address", check_healthchecks,
     _svc("dispatch", "healthcheck", {"test": ["CMD-SHELL", "bash -c 'exec 3<>/dev/tcp/kafka/29092'"]})),
    ("depends_on without condition", check_depends_on, _svc("ingest", "depends_on", ["kafka"])),
    ("healthy condition on a service without healthcheck", check_depends_on,
     lambda compose, config: compose["services"]["kafka"].pop("healthcheck")),
    ("ingest does not wait for the registry", check_depends_on,
     _svc("ingest", "depends_on", {"kafka": {"condition": "service_healthy"}})),
    ("no restart policy", check_restart_policies, _del("schema-registry", "restart")),
    ("kafka data not on a volume", check_kafka_volume, _del("kafka", "volumes")),
    ("ingest killed before its flush", check_ingest_stop_grace, _svc("ingest", "stop_grace_period", "10s")),
    ("alert rules not mounted", check_prometheus_rules,
     lambda compose, config: compose["services"]["prometheus"].update(volumes=[
         v for v in compose["services"]["prometheus"]["volumes"]
         if not (isinstance(v, dict) and v["target"].endswith("placehub-alerts.yml"))])),
    ("alert rules mounted writable", check_prometheus_rules,
     lambda compose, config: [v.update(read_only=False)
                              for v in compose["services"]["prometheus"]["volumes"]
                              if isinstance(v, dict) and v["target"].endswith("-alerts.yml")]),
    ("alert rules from elsewhere", check_prometheus_rules,
     lambda compose, config: [v.update(source="./config/placehub.docker.yaml")
                              for v in compose["services"]["prometheus"]["volumes"]
                              if isinstance(v, dict) and v["target"].endswith("-alerts.yml")]),
]

DOCKERFILE_BREAKAGES = [
    ("binaries not copied", check_image_has_programs,
     _dockerfile("COPY --from=build /src/build/bin/ /opt/placehub/bin/", "")),
    ("binaries off PATH", check_image_has_programs,
     _dockerfile("ENV PATH=/opt/placehub/bin:$PATH", "ENV PATH=/usr/bin:/bin")),
    ("schemas not copied", check_schemas_in_image, _dockerfile("COPY schemas/ /opt/placehub/schemas/", "")),
    ("runs as root", check_dockerfile_runtime, _dockerfile("USER 10001:10001", "USER root")),
    ("dev package at runtime", check_dockerfile_runtime, _dockerfile("libavro23 ", "libavro-dev ")),
    ("other base image", check_dockerfile_runtime,
     _dockerfile("ARG DEBIAN_IMAGE=debian:bookworm-slim", "ARG DEBIAN_IMAGE=debian:bookworm")),
    ("build lacks a -dev package", check_dockerfile_runtime, _dockerfile("libyaml-dev ", "")),
    ("secret in ENV", check_dockerfile_runtime,
     _dockerfile("PLACEHUB_LOG_LEVEL=info", "PLACEHUB_LOG_LEVEL=info KAFKA_SASL_PASSWORD=hunter2")),
    ("healthcheck curl not installed", check_healthcheck_tools_in_image,
     _dockerfile("ca-certificates curl", "ca-certificates")),
]


@pytest.mark.parametrize("what,check,change", BREAKAGES, ids=[b[0] for b in BREAKAGES])
def test_check_catches(deployment, what, check, change):
    assert not check(deployment), f"{check.__name__} fails on the real files already"
    broken = mutated(deployment, change)
    assert check(broken), f"{check.__name__} did not notice: {what}"


@pytest.mark.parametrize("what,check,change", DOCKERFILE_BREAKAGES,
                         ids=[b[0] for b in DOCKERFILE_BREAKAGES])
def test_check_catches_dockerfile(deployment, what, check, change):
    assert not check(deployment), f"{check.__name__} fails on the real files already"
    assert check(change(deployment)), f"{check.__name__} did not notice: {what}"


def test_check_catches_dockerignore(deployment):
    assert check_dockerignore(replace(deployment, dockerignore="*\n!Makefile\n")), (
        "check_dockerignore did not notice that lib/ etc. are excluded")
    assert check_dockerignore(replace(deployment, dockerignore="# nothing\n")), (
        "check_dockerignore did not notice that build/ and .git get in")


def test_check_catches_missing_service(deployment):
    broken = mutated(deployment, lambda compose, config: compose["services"].pop("partner-leisure"))
    assert check_services_present(broken)
    assert check_addresses_reach_services(broken), "a partner url pointing nowhere went unnoticed"


# --- placehub and Docker Compose read the files ---------------------------------------------


@pytest.mark.parametrize("prog", ["placehub-ingest", "placehub-dispatch", "placehub-registry"])
def test_placehub_accepts_docker_config(prog):
    binary = BIN / prog
    if not os.access(binary, os.X_OK):
        pytest.skip(f"{binary.relative_to(ROOT)} is not built: run `make` first")
    result = subprocess.run([str(binary), "-c", str(CONFIG_FILE), "--check-config"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "configuration OK" in result.stdout, (
        f"{prog} rejects config/placehub.docker.yaml (exit {result.returncode}):\n"
        f"{result.stdout}{result.stderr}")


def test_docker_compose_config():
    """Compose's own parser, where the plugin is installed (needs no engine)."""
    docker = shutil.which("docker")
    if not docker or subprocess.run([docker, "compose", "version"], capture_output=True,
                                    timeout=30).returncode != 0:
        pytest.skip("the `docker compose` plugin is not installed here")
    result = subprocess.run([docker, "compose", "-f", str(COMPOSE_FILE), "--profile",
                             "embedded-registry", "config", "--quiet"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"docker compose config rejects docker-compose.yml:\n{result.stderr}"
