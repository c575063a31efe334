#!/usr/bin/env bash
# Runs a real Apache Kafka broker for placehub development and integration
# tests: one JVM on loopback that is both KRaft controller and broker, with its
# jars fetched from Maven Central through tools/kafka/pom.xml and cached.
#
# Every file of an instance (config, pid, console log, log4j output, topic
# data) lives in its data dir, so any number of brokers can run side by side
# as long as each has its own KAFKA_DATA_DIR and ports. Run with --help for
# the subcommands and settings.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
POM="$REPO/tools/kafka/pom.xml"
PROG="scripts/kafka.sh"

KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_DATA_DIR="${KAFKA_DATA_DIR:-$REPO/.run/kafka}"
KAFKA_READY_TIMEOUT="${KAFKA_READY_TIMEOUT:-60}"
KAFKA_STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx768m}"
KAFKA_SASL_PLAIN_USERS="${KAFKA_SASL_PLAIN_USERS:-}"
KAFKA_EXTRA_PROPERTIES="${KAFKA_EXTRA_PROPERTIES:-}"
PLACEHUB_CACHE="${PLACEHUB_CACHE:-$REPO/.cache}"
HOST=127.0.0.1

# The line the broker logs once it is registered, unfenced and serving.
STARTED_LINE="Kafka Server started"

usage() {
  cat <<EOF
Usage: $PROG <command>

Runs a single-node Apache Kafka broker (KRaft: broker and controller in one
JVM) on $HOST for development and integration tests.

Commands:
  fetch    Copy the Kafka jars named in tools/kafka/pom.xml from Maven
           (~/.m2, else Maven Central) into the cache, once.
  start    fetch if needed, format the data dir if new, start the broker in
           the background and wait until it serves requests, printing e.g.
           "kafka: ready on $HOST:9092 in 2.7 s". Exits 1 if a port is
           taken, or if the broker is not ready in time (then it shows the
           end of the broker log and stops the broker).
  stop     SIGTERM the broker, wait up to KAFKA_STOP_TIMEOUT s, then SIGKILL.
           Does nothing if it is not running.
  status   Say whether the broker of KAFKA_DATA_DIR runs: exit 0 if so, 1 if not.
  wait     Only wait until the broker is ready (exit 1 on timeout).
  help     This text.

Settings (environment variables):
  KAFKA_PORT             client listener port             (default 9092)
  KAFKA_CONTROLLER_PORT  KRaft controller port            (default 9093)
  KAFKA_DATA_DIR         config, pid, logs and topic data (default .run/kafka)
  KAFKA_READY_TIMEOUT    seconds start/wait allow         (default 60)
  KAFKA_STOP_TIMEOUT     seconds stop allows before KILL  (default 30)
  KAFKA_HEAP_OPTS        JVM heap flags                   (default -Xms256m -Xmx768m)
  PLACEHUB_CACHE         cache root; jars go to \$PLACEHUB_CACHE/kafka/<version>/libs
                         (default .cache in the repository)
  JAVA_HOME              Java 17+ to use (default: java on PATH)
  KAFKA_SASL_PLAIN_USERS "user:password,user:password": the client listener
                         becomes SASL_PLAINTEXT with mechanism PLAIN and these
                         users (the first one is the broker's own). For
                         testing placehub's broker authentication; the
                         passwords end up in server.properties in the data dir.
  KAFKA_EXTRA_PROPERTIES "name=value,name=value": broker properties appended to
                         server.properties, overriding the script's own (the
                         last of a name wins), e.g. log.segment.bytes=1048576
                         for small segments on a small disk. Values cannot
                         contain ',' or a newline.

Files in KAFKA_DATA_DIR: server.properties, log4j2.properties, kafka.pid,
kafka.log (broker log of the current run; the previous one is kafka.log.1),
data/ (topic partitions and KRaft metadata; delete it to start afresh).

Examples:
  $PROG start            # the default broker, on $HOST:9092
  # a second, separate broker (what the integration tests do):
  KAFKA_PORT=19092 KAFKA_CONTROLLER_PORT=19093 KAFKA_DATA_DIR=/tmp/k2 $PROG start
  KAFKA_DATA_DIR=/tmp/k2 $PROG stop
  # Kafka's own command-line tools run from the same jars, for example:
  java -cp "$PLACEHUB_CACHE/kafka/$(kafka_version)/libs/*" \\
    org.apache.kafka.tools.TopicCommand --bootstrap-server $HOST:9092 --list
  (also org.apache.kafka.tools.ConsoleProducer, ...tools.consumer.ConsoleConsumer)
EOF
}

die() {
  echo "kafka: $*" >&2
  exit 1
}

now_us() { # microseconds since the epoch, without forking
  local t="${EPOCHREALTIME/./}"
  echo "${t/,/}"
}

elapsed_since() { # seconds since a now_us value, one decimal
  local d=$(( $(now_us) - $1 ))
  printf '%d.%d' $(( d / 1000000 )) $(( (d % 1000000) / 100000 ))
}

check_settings() {
  local v
  for v in KAFKA_PORT KAFKA_CONTROLLER_PORT; do
    if ! [[ "${!v}" =~ ^[1-9][0-9]{0,4}$ ]] || (( ${!v} > 65535 )); then
      die "$v must be a port number, not '${!v}'"
    fi
  done
  [ "$KAFKA_PORT" != "$KAFKA_CONTROLLER_PORT" ] ||
    die "KAFKA_PORT and KAFKA_CONTROLLER_PORT must differ (both $KAFKA_PORT)"
  for v in KAFKA_READY_TIMEOUT KAFKA_STOP_TIMEOUT; do
    [[ "${!v}" =~ ^[0-9]{1,6}$ ]] || die "$v must be a whole number of seconds, not '${!v}'"
  done
  [ -n "$KAFKA_DATA_DIR" ] || die "KAFKA_DATA_DIR is empty"
  if [ -n "$KAFKA_SASL_PLAIN_USERS" ] &&
     ! [[ "$KAFKA_SASL_PLAIN_USERS" =~ ^[A-Za-z0-9_-]+:[A-Za-z0-9_.-]+(,[A-Za-z0-9_-]+:[A-Za-z0-9_.-]+)*$ ]]; then
    die "KAFKA_SASL_PLAIN_USERS must be user:password[,user:password...] (letters, digits, '_', '-', '.')"
  fi
  if [ -n "$KAFKA_EXTRA_PROPERTIES" ] &&
     ! [[ "$KAFKA_EXTRA_PROPERTIES" =~ ^[A-Za-z0-9._-]+=[^,$'\n']*(,[A-Za-z0-9._-]+=[^,$'\n']*)*$ ]]; then
    die "KAFKA_EXTRA_PROPERTIES must be name=value[,name=value...] (names of letters, digits, '.', '_', '-'; no ',' or newline in values)"
  fi
}

# Paths of this instance; the data dir is made absolute so that the pid check
# and the broker's config do not depend on the caller's working directory.
set_paths() {
  DATA_DIR="$(realpath -m -- "$KAFKA_DATA_DIR")"
  PID_FILE="$DATA_DIR/kafka.pid"
  LOG_FILE="$DATA_DIR/kafka.log"
  PROPS="$DATA_DIR/server.properties"
  LOG4J="$DATA_DIR/log4j2.properties"
  LOG_DIRS="$DATA_DIR/data"
}

kafka_version() {
  local v
  v="$(sed -n 's:.*<kafka\.version>[[:space:]]*\([^<[:space:]]*\)[[:space:]]*</kafka\.version>.*:\1:p' "$POM" | head -n 1)"
  [ -n "$v" ] || die "no <kafka.version> in $POM"
  echo "$v"
}

set_lib_paths() {
  KAFKA_VERSION="$(kafka_version)"
  VERSION_DIR="$PLACEHUB_CACHE/kafka/$KAFKA_VERSION"
  LIBS="$VERSION_DIR/libs"
  # Written last by fetch; holds the pom's checksum so an edited pom refetches.
  MARKER="$VERSION_DIR/libs.complete"
}

need_java() {
  JAVA="java"
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then
    JAVA="$JAVA_HOME/bin/java"
  fi
  command -v "$JAVA" >/dev/null 2>&1 ||
    die "java not found: Kafka needs Java 17 or newer. On Debian run scripts/install-deps.sh (installs openjdk-17-jre-headless), or set JAVA_HOME."
  local line major
  line="$("$JAVA" -version 2>&1 | grep -m1 -i 'version' || true)"
  major="$(sed -n 's/.*version "\([0-9]*\)[."].*/\1/p' <<<"$line")"
  [ "$major" = 1 ] && major="$(sed -n 's/.*version "1\.\([0-9]*\).*/\1/p' <<<"$line")"
  [[ "$major" =~ ^[0-9]+$ ]] || die "cannot tell the version of $JAVA ($line)"
  (( major >= 17 )) ||
    die "$JAVA is Java $major; Kafka needs Java 17 or newer. On Debian run scripts/install-deps.sh (installs openjdk-17-jre-headless), or set JAVA_HOME."
}

pom_sum() { sha256sum "$POM" | cut -d' ' -f1; }

fetched() {
  [ -d "$LIBS" ] && [ -f "$MARKER" ] && [ "$(cat "$MARKER")" = "$(pom_sum)" ]
}

cmd_fetch() {
  set_lib_paths
  need_java
  fetched && return 0
  mkdir -p "$VERSION_DIR"
  # Brokers started at the same time share the cache: one fetches, the
  # others wait for it and then find the marker.
  exec 8>"$VERSION_DIR/.fetch.lock"
  flock 8
  if fetched; then exec 8>&-; return 0; fi
  command -v mvn >/dev/null 2>&1 ||
    die "mvn not found: it fetches the Kafka jars. On Debian run scripts/install-deps.sh (installs maven)."
  local t0 tmp out
  t0="$(now_us)"
  echo "kafka: fetching Apache Kafka $KAFKA_VERSION jars into $LIBS" >&2
  rm -f "$MARKER"
  tmp="$VERSION_DIR/libs.partial"
  out="$VERSION_DIR/fetch.log"
  rm -rf "$tmp"
  if ! mvn -q -B -f "$POM" dependency:copy-dependencies \
      -DoutputDirectory="$tmp" >"$out" 2>&1; then
    tail -n 40 "$out" >&2
    die "fetching the jars with Maven failed (full output: $out)"
  fi
  ls "$tmp"/kafka_2.13-*.jar >/dev/null 2>&1 || die "Maven left no kafka_2.13 jar in $tmp"
  rm -rf "$LIBS"
  mv "$tmp" "$LIBS"
  pom_sum >"$MARKER.tmp"
  mv "$MARKER.tmp" "$MARKER"
  exec 8>&-
  echo "kafka: fetched $(find "$LIBS" -name '*.jar' | wc -l) jars ($(du -sh "$LIBS" | cut -f1)) in $(elapsed_since "$t0") s" >&2
}

# The pid of this data dir's broker if it runs, else nothing (and a stale pid
# file is removed). The JVM carries its data dir on its command line, so a
# recycled pid is not mistaken for it.
running_pid() {
  [ -f "$PID_FILE" ] || return 0
  local pid
  pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  if [[ "$pid" =~ ^[0-9]+$ ]] && [ -r "/proc/$pid/cmdline" ] &&
     tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF -- "-Dplacehub.kafka.dir=$DATA_DIR"; then
    echo "$pid"
    return 0
  fi
  rm -f "$PID_FILE"
}

port_open() { # something accepts connections on 127.0.0.1:$1
  timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null
}

# A real request: ApiVersions v0 (api key 18, correlation id 42, client id
# "placehub"); ready when the broker answers with correlation id 42 and error
# code 0. The broker only processes requests once it has started.
api_versions_ok() {
  # shellcheck disable=SC2016  # expanded by the inner bash
  timeout 3 bash -c '
    exec 3<>"/dev/tcp/$0/$1" || exit 1
    printf "\x00\x00\x00\x12\x00\x12\x00\x00\x00\x00\x00\x2a\x00\x08placehub" >&3
    resp="$(head -c 10 <&3 | od -An -tx1 | tr -d " \n")"
    [ "${resp:8:12}" = "0000002a0000" ]
  ' "$HOST" "$1" 2>/dev/null
}

# The client port of the instance in the data dir: what its server.properties
# says once start has written it (so status and wait need only
# KAFKA_DATA_DIR), else KAFKA_PORT.
instance_port() {
  local p=""
  [ -f "$PROPS" ] && p="$(sed -n "s|^listeners=[A-Z_]*://$HOST:\([0-9]*\),.*|\1|p" "$PROPS")"
  echo "${p:-$KAFKA_PORT}"
}

show_log_tail() {
  if [ -f "$LOG_FILE" ]; then
    echo "kafka: last 30 lines of $LOG_FILE:" >&2
    tail -n 30 "$LOG_FILE" >&2
  else
    echo "kafka: no broker log at $LOG_FILE" >&2
  fi
}

# Wait until the broker of this data dir is ready; $1 is the now_us the wait
# is timed from (for the message); $2=1 when the caller has just launched the
# JVM, so that a pid file that is gone means the broker died. Returns 1, after showing the log, if the
# broker exits or KAFKA_READY_TIMEOUT passes.
wait_ready() {
  local t0="$1" seen_pid="${2:-0}" deadline pid port
  port="$(instance_port)"
  deadline=$(( $(now_us) + KAFKA_READY_TIMEOUT * 1000000 ))
  while :; do
    pid="$(running_pid)"
    if [ -n "$pid" ]; then
      seen_pid=1
      if grep -qF "$STARTED_LINE" "$LOG_FILE" 2>/dev/null && api_versions_ok "$port"; then
        echo "kafka: ready on $HOST:$port in $(elapsed_since "$t0") s (pid $pid, data $DATA_DIR)"
        return 0
      fi
    elif (( seen_pid )); then
      show_log_tail
      echo "kafka: the broker exited before it was ready" >&2
      return 1
    fi
    if (( $(now_us) >= deadline )); then
      [ -n "$pid" ] || echo "kafka: no broker is running for $DATA_DIR" >&2
      show_log_tail
      echo "kafka: not ready on $HOST:$port after ${KAFKA_READY_TIMEOUT} s (raise KAFKA_READY_TIMEOUT?)" >&2
      return 1
    fi
    sleep 0.2
  done
}

# The client listener: PLAINTEXT, or SASL_PLAINTEXT with PLAIN users from
# KAFKA_SASL_PLAIN_USERS (the first user is the broker's own login).
client_listener_config() {
  if [ -z "$KAFKA_SASL_PLAIN_USERS" ]; then
    cat <<EOF
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
EOF
    return
  fi
  local first="${KAFKA_SASL_PLAIN_USERS%%,*}" users="" pair pairs
  IFS=',' read -ra pairs <<<"$KAFKA_SASL_PLAIN_USERS"
  for pair in "${pairs[@]}"; do users+=" user_${pair%%:*}=\"${pair#*:}\""; done
  cat <<EOF
listeners=SASL_PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=SASL_PLAINTEXT://$HOST:$KAFKA_PORT
inter.broker.listener.name=SASL_PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
sasl.enabled.mechanisms=PLAIN
sasl.mechanism.inter.broker.protocol=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="${first%%:*}" password="${first#*:}"$users;
EOF
}

write_config() {
  cat >"$PROPS" <<EOF
# Written by $PROG start; rewritten on every start, so edit the script.
# Single node: this JVM is both the KRaft controller and the broker.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$KAFKA_CONTROLLER_PORT
controller.listener.names=CONTROLLER
$(client_listener_config)
log.dirs=$LOG_DIRS

# The services create their topics (and set retention per topic).
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=1
min.insync.replicas=1

# Internal topics: one replica, few partitions, so the first consumer group or
# transaction on a fresh data dir does not wait for 50 partitions.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0

# A small machine (2 cores): few threads, small segments and indexes.
num.network.threads=2
num.io.threads=4
background.threads=4
num.recovery.threads.per.data.dir=1
log.segment.bytes=67108864
log.index.size.max.bytes=1048576
log.cleaner.dedupe.buffer.size=33554432
EOF
  if [ -n "$KAFKA_EXTRA_PROPERTIES" ]; then
    printf '\n# KAFKA_EXTRA_PROPERTIES (later lines override earlier ones)\n' >>"$PROPS"
    tr ',' '\n' <<<"$KAFKA_EXTRA_PROPERTIES" >>"$PROPS"
  fi
  cat >"$LOG4J" <<'EOF'
# Written by scripts/kafka.sh start: all broker logging to the console,
# which the script sends to kafka.log in the data dir.
status = warn
name = placehub-kafka
appender.console.type = Console
appender.console.name = STDOUT
appender.console.target = SYSTEM_OUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.requestchannel.name = kafka.network.RequestChannel$
logger.requestchannel.level = WARN
EOF
}

random_cluster_id() { # 16 random bytes, URL-safe base64 without padding
  local id
  while :; do
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    # Kafka avoids ids that start with '-' (they read as options).
    [ "${id:0:1}" != "-" ] && { echo "$id"; return; }
  done
}

format_storage() {
  [ -f "$LOG_DIRS/meta.properties" ] && return 0
  local id out="$DATA_DIR/format.log"
  id="$(random_cluster_id)"
  if ! "$JAVA" -Dlog4j2.configurationFile="$LOG4J" -cp "$LIBS/*" \
      kafka.tools.StorageTool format --config "$PROPS" --cluster-id "$id" >"$out" 2>&1; then
    cat "$out" >&2
    die "formatting $LOG_DIRS failed"
  fi
  echo "kafka: formatted $LOG_DIRS (cluster id $id)" >&2
}

lock_data_dir() { # one start/stop at a time per data dir; fd 9 is closed for the JVM
  mkdir -p "$DATA_DIR"
  exec 9>"$DATA_DIR/.script.lock"
  flock 9
}

cmd_start() {
  check_settings
  set_paths
  cmd_fetch
  lock_data_dir
  local pid t0 p
  pid="$(running_pid)"
  if [ -n "$pid" ]; then
    echo "kafka: already running (pid $pid, data $DATA_DIR)" >&2
    wait_ready "$(now_us)" || exit 1
    return
  fi
  for p in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
    if port_open "$p"; then
      die "port $HOST:$p is already in use. Another broker? Try '$PROG status' with its KAFKA_DATA_DIR, or choose free ports with KAFKA_PORT / KAFKA_CONTROLLER_PORT."
    fi
  done
  t0="$(now_us)"
  mkdir -p "$LOG_DIRS"
  write_config
  format_storage
  [ -f "$LOG_FILE" ] && mv -f "$LOG_FILE" "$LOG_FILE.1"
  # -Dplacehub.kafka.dir marks the JVM as this data dir's (see running_pid).
  # setsid: the broker outlives the shell that started it and its signals.
  # The child writes its own pid, then execs the JVM under that same pid.
  rm -f "$PID_FILE"
  # shellcheck disable=SC2086,SC2016  # several heap flags; inner bash expands
  setsid bash -c 'echo "$$" >"$0"; exec "$@"' "$PID_FILE" \
    "$JAVA" $KAFKA_HEAP_OPTS \
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$LOG4J" \
    -Dplacehub.kafka.dir="$DATA_DIR" \
    -cp "$LIBS/*" kafka.Kafka "$PROPS" \
    >"$LOG_FILE" 2>&1 </dev/null 9>&- 8>&- &
  local _
  for _ in $(seq 50); do
    [ -s "$PID_FILE" ] && break
    sleep 0.1
  done
  [ -s "$PID_FILE" ] || die "the broker process did not start"
  if ! wait_ready "$t0" 1; then
    # Leave nothing running behind a failed start; the log stays for reading.
    stop_broker >&2
    exit 1
  fi
}

cmd_stop() {
  check_settings
  set_paths
  [ -d "$DATA_DIR" ] || { echo "kafka: not running (no $DATA_DIR)"; return 0; }
  lock_data_dir
  stop_broker
}

stop_broker() { # the data dir is locked by the caller
  local pid t0 deadline
  pid="$(running_pid)"
  if [ -z "$pid" ]; then
    echo "kafka: not running ($DATA_DIR)"
    return 0
  fi
  t0="$(now_us)"
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$(( t0 + KAFKA_STOP_TIMEOUT * 1000000 ))
  while kill -0 "$pid" 2>/dev/null; do
    if (( $(now_us) >= deadline )); then
      echo "kafka: pid $pid still running after ${KAFKA_STOP_TIMEOUT} s; sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
      while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
      break
    fi
    sleep 0.2
  done
  rm -f "$PID_FILE"
  echo "kafka: stopped (pid $pid) in $(elapsed_since "$t0") s"
}

cmd_status() {
  check_settings
  set_paths
  local pid port
  pid="$(running_pid 2>/dev/null || true)"
  if [ -z "$pid" ]; then
    echo "kafka: not running ($DATA_DIR)"
    return 1
  fi
  port="$(instance_port)"
  if api_versions_ok "$port"; then
    echo "kafka: running, ready on $HOST:$port (pid $pid, data $DATA_DIR)"
  else
    echo "kafka: running, not answering on $HOST:$port yet (pid $pid, data $DATA_DIR)"
  fi
}

cmd_wait() {
  check_settings
  set_paths
  wait_ready "$(now_us)" || exit 1
}

case "${1:-}" in
  fetch) cmd_fetch ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  wait) cmd_wait ;;
  ""|-h|--help|help) usage ;;
  *)
    echo "kafka: unknown command '$1'" >&2
    usage >&2
    exit 2
    ;;
esac
