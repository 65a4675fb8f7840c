#!/usr/bin/env bash
# The project's test command (README and CI run exactly this):
#   ./infra/test.sh [extra cargo test args...]   e.g. -p slack-calls, or -- conformance
# Starts DynamoDB Local and moto (installing them on first use), points the AWS SDK at
# them through the standard endpoint variables, runs `cargo test --workspace`, stops the
# emulators it started, and exits with cargo's status.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
EMULATORS="$ROOT/infra/emulators.sh"

# Emulators someone started by hand before this run are theirs: leave them running.
if "$EMULATORS" status >/dev/null 2>&1; then
    echo "test.sh: using the emulators already running (infra/emulators.sh status)" >&2
else
    trap '"$EMULATORS" stop' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    started_at=$SECONDS
    "$EMULATORS" start
    echo "test.sh: emulators ready in $((SECONDS - started_at))s" >&2
fi

# shellcheck source=/dev/null
source "$ROOT/.tools/run/emulators.env"

# The whole workspace, unless the arguments pick packages themselves.
scope=(--workspace)
for arg in "$@"; do
    case "$arg" in
        -p | --package | --package=* | -p?*) scope=() ;;
        --) break ;;
    esac
done

# The deployed-path tests run the function binaries themselves under a local Lambda
# Runtime API: build them first (incremental, cheap after the first time).
cargo build --workspace --bins

status=0
cargo test "${scope[@]}" "$@" || status=$?
exit "$status"
