#!/usr/bin/env bash
# The project's test command (README and CI run exactly this): every test.
#   ./infra/test.sh [extra cargo test args...]   e.g. -p slack-calls, or -- conformance
#
# Plain `cargo test` is the fast tier: nothing but Rust (the flow suite on the embedded
# store). This script adds the tier that needs emulators: it starts DynamoDB Local and
# moto (installing them on first use), points the AWS SDK at them through the standard
# endpoint variables, and runs `cargo test --workspace` with testkit's `emulators`
# feature, which builds the tests that need them (DynamoDB and Secrets Manager adapters,
# the deployed path). The flow suite runs on DynamoDB Local and its stream
# (FLOW_TESTS_STORE=dynamodb, unless set), and, when no arguments are given, once more on
# the embedded store. It stops the emulators it started and exits with cargo's status.
#
# LAMBDA_BIN_DIR=<dir>: the deployed-path tests run the function binaries found there
# (CI: the release build) instead of debug ones this script builds.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
EMULATORS="$ROOT/infra/emulators.sh"
FEATURES=(--features testkit/emulators)

# Emulators someone started by hand before this run are theirs: leave them running.
# Ours start while cargo builds (installing them on a first run and booting the JVM take
# a while), and are stopped on exit, once their start has finished.
starting=""
if "$EMULATORS" status >/dev/null 2>&1; then
    echo "test.sh: using the emulators already running (infra/emulators.sh status)" >&2
else
    trap 'if [[ -n "$starting" ]]; then wait "$starting" || true; fi; "$EMULATORS" stop' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    started_at=$SECONDS
    "$EMULATORS" start &
    starting=$!
fi

# The whole workspace, unless the arguments pick packages themselves.
scope=(--workspace)
for arg in "$@"; do
    case "$arg" in
        -p | --package | --package=* | -p?*) scope=() ;;
        --) break ;;
    esac
done

# The deployed-path tests run the function binaries themselves under a local Lambda
# Runtime API. They are built in the same run as the tests: both then resolve the same
# dependency features (dev-dependencies add some), so no dependency is compiled twice.
if [[ -z "${LAMBDA_BIN_DIR:-}" ]]; then
    cargo build --workspace --bins --tests "${FEATURES[@]}"
fi

if [[ -n "$starting" ]]; then
    pid="$starting"
    starting=""
    if ! wait "$pid"; then
        echo "test.sh: the emulators did not start (infra/emulators.sh start, above)" >&2
        exit 1
    fi
    echo "test.sh: emulators ready $((SECONDS - started_at))s after their start began" >&2
fi
# shellcheck source=/dev/null
source "$ROOT/.tools/run/emulators.env"

status=0
FLOW_TESTS_STORE="${FLOW_TESTS_STORE:-dynamodb}" \
    cargo test "${scope[@]}" "${FEATURES[@]}" "$@" || status=$?

if [[ $# -eq 0 ]]; then
    # The flow suite on the embedded store too (what plain `cargo test` runs): the same
    # build, so nothing compiles.
    FLOW_TESTS_STORE=embedded cargo test --workspace "${FEATURES[@]}" --test flows || status=$?
fi
exit "$status"
