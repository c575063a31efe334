#!/usr/bin/env bash
# The placehub demo on the embedded default: a real Kafka broker, the embedded
# schema registry, ingest, dispatch and three simulated partners, all on
# 127.0.0.1 as configured in config/placehub.yaml. It sends one sample event
# of each of the four types and shows each arriving at the partner whose
# data-sharing agreement covers it, cut to the fields the agreement allows;
# an event about a person who objected to wider sharing is kept from the
# housing provider. Then the partners' consumer groups as Kafka's own tooling
# sees them, and the audit topic's disclosure and suppression records.
#
# Run through `make demo` (which installs and builds first). In a terminal it
# keeps the hub running until Ctrl-C (or q), then stops everything it started
# and exits 0; otherwise (or with --once) it does so straight away. With
# --detach it leaves the hub running in the background (make demo-detach), to
# script against with placehub-ctl and curl; --stop (make demo-stop) stops it.
#
# The topics, the disclosure ledger and the logs are kept between runs, so
# each run adds to what earlier ones wrote; --fresh starts from empty ones.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
CONFIG="config/placehub.yaml"
RUN="$REPO/.run/demo"
PIDS="$RUN/demo.pids"   # a detached demo's "name pid" lines; "kafka -" when it started Kafka
BIN="$REPO/${BUILD:-build}/bin"
INGEST="http://127.0.0.1:8080"
REGISTRY="http://127.0.0.1:8081"
CONSOLE="http://127.0.0.1:9190"
PARTNERS=("stockport-homes|http://127.0.0.1:9101" "life-leisure|http://127.0.0.1:9102" "stockport-works|http://127.0.0.1:9103")

usage() {
  awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"
  echo
  echo "Usage: scripts/demo.sh [--once | --detach] [--fresh]"
  echo "       scripts/demo.sh --stop"
  echo "  --once     stop everything and exit after the showcase (the default when"
  echo "             stdin is not a terminal)"
  echo "  --detach   leave the hub running in the background after the showcase"
  echo "             (process ids in ${PIDS#$REPO/}); stop it with --stop"
  echo "  --stop     stop a detached demo (and the Kafka broker, if it started it)"
  echo "  --fresh    first delete what earlier runs left: the broker's topic data"
  echo "             (.run/kafka/data), the disclosure ledger (var/) and the demo's"
  echo "             logs (the pseudonym keys in .run/demo/keys are kept)"
}

once=0 detach=0 fresh=0 stop=0
for argument in "$@"; do
  case "$argument" in
    --once) once=1 ;;
    --detach) detach=1 ;;
    --fresh) fresh=1 ;;
    --stop) stop=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "demo: unknown option '$argument' (try --help)" >&2; exit 2 ;;
  esac
done
if [ "$once" = 1 ] && [ "$detach" = 1 ]; then
  echo "demo: --once and --detach exclude each other" >&2
  exit 2
fi

# Whether pid is still one of the programs a demo started: a pid is reused
# once its process has gone, and an unrelated process must never be signalled.
ours() {
  [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -q "$BIN/placehub-"
}

stop_detached() {
  if [ ! -f "$PIDS" ]; then
    echo "demo: no detached demo is running"
    return 0
  fi
  local name pid left kafka=0
  while read -r name pid; do
    if [ "$name" = kafka ]; then kafka=1; elif ours "$pid"; then kill "$pid" 2>/dev/null || true; fi
  done <"$PIDS"
  for _ in $(seq 1 100); do   # up to 10 s to finish what they hold
    left=0
    while read -r name pid; do
      if [ "$name" != kafka ] && ours "$pid"; then left=1; fi
    done <"$PIDS"
    [ "$left" = 0 ] && break
    sleep 0.1
  done
  while read -r name pid; do
    if [ "$name" != kafka ] && ours "$pid"; then
      echo "demo: $name ($pid) did not stop within 10 s: killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done <"$PIDS"
  if [ "$kafka" = 1 ]; then scripts/kafka.sh stop >/dev/null; fi
  rm -f "$PIDS"
  echo "demo: stopped (logs in ${RUN#$REPO/})"
}

if [ "$stop" = 1 ]; then
  stop_detached
  exit 0
fi
if [ "$detach" = 0 ] && [ ! -t 0 ]; then once=1; fi

bold() { if [ -t 1 ]; then printf '\033[1m%s\033[0m\n' "$*"; else printf '%s\n' "$*"; fi; }

for program in ingest dispatch registry partner-sim mllp console; do
  [ -x "$BIN/placehub-$program" ] || { echo "demo: $BIN/placehub-$program is missing: run 'make demo'" >&2; exit 1; }
done
if [ -f "$PIDS" ]; then
  echo "demo: a detached demo runs (${PIDS#$REPO/}): stop it first with scripts/demo.sh --stop (make demo-stop)" >&2
  exit 1
fi
for port in 8080 8081 2575 9101 9102 9103 9190; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "demo: port $port on 127.0.0.1 is already in use (an earlier demo? stop it, or change $CONFIG)" >&2
    exit 1
  fi
done

if [ "$fresh" = 1 ]; then
  if scripts/kafka.sh status >/dev/null 2>&1; then
    echo "demo: --fresh deletes the broker's data, but the broker runs: stop it first (scripts/kafka.sh stop)" >&2
    exit 1
  fi
  rm -rf .run/kafka/data
  rm -f var/placehub-ledger.db var/placehub-ledger.db-* var/placehub-ledger.db.*
  rm -f var/placehub-console-ledger.db var/placehub-console-ledger.db-* var/placehub-console-ledger.db.*
  rm -f "$RUN"/*.log
  echo "demo: --fresh: the topics, the disclosure ledger and the logs of earlier runs are deleted"
fi

mkdir -p "$RUN"
began="$(date -u +%Y-%m-%dT%H:%M:%S)"   # this run's audit records are the ones since
pids=()
started_kafka=0
cleanup() {
  set +e
  trap - INT TERM HUP
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
  if [ "$started_kafka" = 1 ]; then scripts/kafka.sh stop >/dev/null; fi
  rm -f "$PIDS.starting"
  echo "demo: stopped (logs in ${RUN#$REPO/})"
}
trap cleanup EXIT
# Asked to stop (Ctrl-C before the hub is up, kill, the terminal closed):
# that is how a demo ends, not a failure: stop everything (the EXIT trap)
# and exit 0.
trap 'exit 0' INT TERM HUP

bold "1. Kafka (KRaft, single node on 127.0.0.1:9092)"
if ! scripts/kafka.sh status >/dev/null 2>&1; then started_kafka=1; fi
rm -f "$PIDS.starting"
if [ "$detach" = 1 ] && [ "$started_kafka" = 1 ]; then echo "kafka -" >"$PIDS.starting"; fi
scripts/kafka.sh start

start() { # name, command...
  local name="$1"; shift
  if [ "$detach" = 1 ]; then
    # A session of its own: closing this terminal does not stop it.
    setsid "$@" </dev/null >"$RUN/$name.log" 2>&1 &
    echo "$name $!" >>"$PIDS.starting"
  else
    "$@" >"$RUN/$name.log" 2>&1 &
  fi
  pids+=("$!")
}
wait_http() { # url, what
  for _ in $(seq 1 300); do
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "demo: $2 did not come up; its log:" >&2
  tail -n 20 "$RUN"/*.log >&2
  exit 1
}

# The samples are sent as "demo-publisher" (config/placehub.yaml): a key is
# minted for each run; only its hash is in the file ingest reads, and the key
# goes to curl in a header file, never on a command line.
( umask 077
  "$BIN/placehub-ingest" --new-api-key 2>/dev/null >"$RUN/demo-publisher.minted"
  sed -n 2p "$RUN/demo-publisher.minted" >"$RUN/demo-publisher.hashes"
  printf 'Authorization: Bearer %s\n' "$(sed -n 1p "$RUN/demo-publisher.minted")" >"$RUN/ingest-auth.header"
  rm -f "$RUN/demo-publisher.minted" )

# The pseudonym keys the demo's agreements name (config/placehub.yaml names
# them as file:.run/demo/keys/NAME; a key is never written in the
# configuration). Files rather than variables of this shell: placehub-ctl run
# from another shell (the runbook's dlq redrive, replay --redeliver) reads
# them too. Made once and kept, so a person's pseudonym stays the same
# between runs.
mkdir -p "$RUN/keys"
chmod 700 "$RUN/keys"
for name in HOMES LEISURE; do
  key="$RUN/keys/$name"
  if [ ! -s "$key" ]; then (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$key"); fi
done

# The console's two users (config/placehub.yaml's console.users_file), with
# new passwords each run: printed below and kept in console-passwords.
( umask 077
  : >"$RUN/console-passwords"
  for user in operator:operator auditor:auditor; do
    password="$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    printf '%s\n' "$password" | "$BIN/placehub-console" --add-user "${user%%:*}" --role "${user#*:}" \
      -c "$CONFIG" >/dev/null
    printf '%s %s\n' "${user%%:*}" "$password" >>"$RUN/console-passwords"
  done )

bold "2. placehub services and three simulated partners"
start partner-stockport-homes "$BIN/placehub-partner-sim" --listen 127.0.0.1:9101 --name stockport-homes
start partner-life-leisure "$BIN/placehub-partner-sim" --listen 127.0.0.1:9102 --name life-leisure
start partner-stockport-works "$BIN/placehub-partner-sim" --listen 127.0.0.1:9103 --name stockport-works
start registry "$BIN/placehub-registry" -c "$CONFIG"
start ingest "$BIN/placehub-ingest" -c "$CONFIG"
wait_http "$INGEST/healthz" "placehub-ingest"
start dispatch "$BIN/placehub-dispatch" -c "$CONFIG"
start mllp "$BIN/placehub-mllp" -c "$CONFIG"
start console "$BIN/placehub-console" -c "$CONFIG"
wait_http "$REGISTRY/subjects" "placehub-registry"
for partner in "${PARTNERS[@]}"; do wait_http "${partner#*|}/_sim/healthz" "partner ${partner%%|*}"; done
for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/2575) 2>/dev/null && break; sleep 0.1; done
echo "   ingest $INGEST   registry $REGISTRY   HL7 MLLP 127.0.0.1:2575"
echo "   partners :9101 (housing: admission, discharge)  :9102 (leisure: referral)  :9103 (employment support)"
wait_http "$CONSOLE/healthz" "placehub-console"
echo "   console $CONSOLE/  log in as: $(awk '{printf "%s%s / %s", sep, $1, $2; sep = ", "}' "$RUN/console-passwords")"

bold "3. Sending one sample event of each type (tests/data/*.json)"
declare -A sent
for type in admission discharge referral employment-support; do
  answer="$(curl -sS -w ' %{http_code}' -H 'Content-Type: application/json' \
            -H "@$RUN/ingest-auth.header" --data "@tests/data/$type.json" "$INGEST/v1/events/$type")"
  code="${answer##* }"; body="${answer% *}"
  if [ "$code" != 202 ]; then echo "demo: ingest refused the $type sample: $code $body" >&2; exit 1; fi
  id="$(printf '%s' "$body" | python3 -c 'import json,sys; print(json.load(sys.stdin)["event_id"])')"
  sent[$id]="$type"
  printf '   %-19s -> 202 accepted after the broker acknowledged it, event_id %s\n' "$type" "$id"
done

bold "3b. A hospital sends HL7 v2 ADT over MLLP: an admission (A01) and a pending discharge (A16)"
python3 scripts/mllp-send.py 127.0.0.1:2575 tests/data/hl7/a01.hl7 tests/data/hl7/a16.hl7
sent[hl7-a01]=admission
sent[hl7-a16]=discharge

bold "3c. A person who objected to sharing beyond their care (sharing flag set)"
objected="$(python3 -c '
import json, sys
event = json.load(open("tests/data/admission.json"))
del event["event_id"]          # a new event
event["sharing"]["objected_to_non_care_sharing"] = True
print(json.dumps(event))')"
answer="$(curl -sS -w ' %{http_code}' -H 'Content-Type: application/json' \
          -H "@$RUN/ingest-auth.header" --data "$objected" "$INGEST/v1/events/admission")"
if [ "${answer##* }" != 202 ]; then echo "demo: ingest refused the objection sample: $answer" >&2; exit 1; fi
objected_id="$(printf '%s' "${answer% *}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["event_id"])')"
printf '   %-19s -> 202, event_id %s: the housing provider is not direct care, so it must not get it\n' admission "$objected_id"

bold "4. Arriving at the partners (field names only, beyond the envelope every partner gets)"
deadline=$((SECONDS + 60))
while :; do
  got=0
  for partner in "${PARTNERS[@]}"; do
    n="$(curl -fsS "${partner#*|}/_sim/requests?limit=0" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])')"
    got=$((got + n))
  done
  [ "$got" -ge "${#sent[@]}" ] && break
  if [ "$SECONDS" -ge "$deadline" ]; then echo "demo: only $got of ${#sent[@]} events arrived within 60 s; see ${RUN#$REPO/}/dispatch.log" >&2; exit 1; fi
  sleep 0.2
done
for partner in "${PARTNERS[@]}"; do
  python3 scripts/demo-arrivals.py "${partner%%|*}" "${partner#*|}"
done

bold "5. The partners' consumer groups, as Kafka's own tooling shows them"
libs="$(ls -d "${PLACEHUB_CACHE:-$REPO/.cache}"/kafka/*/libs | head -n1)"
describe_groups() {
  java -cp "$libs/*" -Dlog4j2.level=ERROR org.apache.kafka.tools.consumer.group.ConsumerGroupCommand \
    --bootstrap-server 127.0.0.1:9092 --describe --all-groups 2>/dev/null || true
}
# Dispatch commits stored offsets every second: wait until every partition
# that holds events shows its offset committed, rather than guess a pause.
for _ in $(seq 1 20); do
  groups="$(describe_groups)"
  printf '%s\n' "$groups" | awk '$1 ~ /^placehub/ && $5 != "0" && $4 != $5 {late = 1} END {exit !late}' || break
  sleep 0.5
done
printf '%s\n' "$groups" \
  | awk '$1 == "GROUP" || ($1 ~ /^placehub/ && $4 != "-") {print $1, $2, $3, $4, $5, $6}' \
  | column -t | sed 's/^/   /'
echo "   (partitions no event has reached yet are left out; LAG 0 = all delivered or suppressed)"

bold "6. The audit topic: a record per disclosure and per suppression (docs/governance.md)"
java -cp "$libs/*" -Dlog4j2.level=ERROR org.apache.kafka.tools.consumer.ConsoleConsumer \
  --bootstrap-server 127.0.0.1:9092 --topic placehub.audit --from-beginning --timeout-ms 5000 2>/dev/null \
  | python3 scripts/demo-audit.py "$began" || true

echo
echo "Try it yourself:"
echo "   curl -H 'Content-Type: application/json' -H @${RUN#$REPO/}/ingest-auth.header \\"
echo "        --data @tests/data/referral.json $INGEST/v1/events/referral   # this run's demo key"
echo "   python3 scripts/mllp-send.py 127.0.0.1:2575 tests/data/hl7/a03.hl7   # a discharge, as a hospital sends it"
echo "   curl ${PARTNERS[1]#*|}/_sim/requests          # what the leisure partner received"
echo "   curl $REGISTRY/subjects                      # the embedded schema registry"
echo "   ${BIN#$REPO/}/placehub-ctl topics             # the runbook: docs/operations.md"
echo "   ${BIN#$REPO/}/placehub-ctl tail admission -n 3"
echo "   $CONSOLE/   # the console: where each event went, dead letters, partner controls"
if [ "$once" = 1 ]; then
  exit 0
fi
if [ "$detach" = 1 ]; then
  mv "$PIDS.starting" "$PIDS"
  trap - EXIT INT TERM HUP
  bold "The hub keeps running in the background; stop it with scripts/demo.sh --stop (make demo-stop)."
  exit 0
fi
# Ctrl-C is read here as a key rather than sent as a signal: the signal
# would reach make too, which would then report the demo as failed
# ("Error 130"). The terminal's settings are put back however this ends.
saved="$(stty -g)"
trap 'stty "$saved"; cleanup' EXIT
stty -isig -icanon -echo
bold "The hub keeps running; press Ctrl-C (or q) to stop it."
# One byte at a time with dd: bash's own `read -n` turns signals back on.
while :; do
  key="$(dd bs=1 count=1 2>/dev/null | od -An -tx1 | tr -d ' \n')"
  case "$key" in 03|71|51|"") break ;; esac   # Ctrl-C, q, Q; nothing: the terminal went away
done
exit 0
