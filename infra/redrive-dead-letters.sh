#!/usr/bin/env bash
# Lists what the worker's dead-letter queue holds, and re-drives it:
#
#   infra/redrive-dead-letters.sh [--stack NAME] [--region REGION]             list
#   infra/redrive-dead-letters.sh [--stack NAME] [--region REGION] --redrive   re-drive
#
# A dead letter names a batch of the table's stream (shard, sequence numbers), not the
# job: within 24 hours its records are read back from the stream for the job ids; later,
# every job still pending in the table is re-driven instead. Each still-pending job is
# handed to the worker as the stream would deliver it; a message is deleted once all of
# its jobs ran without being reported for retry. Details: infra/redrive_dead_letters.py.
# Needs the AWS CLI with credentials, and python3. Tested offline by
# infra/test_redrive_dead_letters.py (infra/check-deploy.sh runs it).
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,13p' "$0"; exit 0 ;; esac
command -v aws >/dev/null || { echo "the AWS CLI (aws) is required" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 is required" >&2; exit 1; }
exec python3 "$(dirname "$0")/redrive_dead_letters.py" "$@"
