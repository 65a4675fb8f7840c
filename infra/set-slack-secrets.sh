#!/usr/bin/env bash
# Puts the Slack app's signing secret and bot token into the stack's Secrets Manager
# secret, keeping every other key (provider_webhook_secret, client_id, ...) as it is.
#
#   infra/set-slack-secrets.sh [--stack NAME] [--secret-id ARN] [--region REGION]
#
# Values come from SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN if set, otherwise they are
# asked for without echo. Optional extras, merged when set (never prompted):
# SLACK_CLIENT_ID, SLACK_CLIENT_SECRET, MEETING_API_TOKEN. With both client values set
# (an app that workspaces install through the install link) the bot token is optional:
# without one it is not asked for, and a bot token already in the secret is kept.
# Nothing secret is printed, put on a command line (visible in `ps`) or written to disk:
# the values travel through environment variables and pipes only.
#
# Needs the AWS CLI (v1 or v2) with credentials for the account, and python3.
# Also: --show-provider-secret prints the generated provider webhook secret (to paste
# into the meeting provider's webhook settings) and exits.
set -euo pipefail

stack="slack-calls"
secret_id=""
region=""
show_provider=false

while [ $# -gt 0 ]; do
  case "$1" in
    --stack) stack="$2"; shift 2 ;;
    --secret-id) secret_id="$2"; shift 2 ;;
    --region) region="$2"; shift 2 ;;
    --show-provider-secret) show_provider=true; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done

command -v aws >/dev/null || { echo "the AWS CLI (aws) is required" >&2; exit 1; }
awsr() { if [ -n "$region" ]; then aws --region "$region" "$@"; else aws "$@"; fi; }
command -v python3 >/dev/null || { echo "python3 is required" >&2; exit 1; }

if [ -z "$secret_id" ]; then
  secret_id="$(awsr cloudformation describe-stacks --stack-name "$stack" \
    --query "Stacks[0].Outputs[?OutputKey=='SecretArn'].OutputValue" --output text)"
  if [ -z "$secret_id" ] || [ "$secret_id" = "None" ]; then
    echo "stack $stack has no SecretArn output (deployed? right region?)" >&2
    exit 1
  fi
fi
echo "secret: $secret_id"

current="$(awsr secretsmanager get-secret-value --secret-id "$secret_id" \
  --query SecretString --output text)"

if $show_provider; then
  CURRENT="$current" python3 -c 'import json, os; print(json.loads(os.environ["CURRENT"])["provider_webhook_secret"])'
  exit 0
fi

prompt_secret() { # name, prompt
  local value=""
  if [ ! -t 0 ]; then
    echo "$1 is not set and there is no terminal to ask on" >&2
    exit 1
  fi
  read -r -s -p "$2: " value
  echo >&2
  printf '%s' "$value"
}

if [ -z "${SLACK_SIGNING_SECRET:-}" ]; then
  SLACK_SIGNING_SECRET="$(prompt_secret SLACK_SIGNING_SECRET 'Slack signing secret (Basic Information > App Credentials)')"
fi
if [ -z "${SLACK_BOT_TOKEN:-}" ] && { [ -z "${SLACK_CLIENT_ID:-}" ] || [ -z "${SLACK_CLIENT_SECRET:-}" ]; }; then
  SLACK_BOT_TOKEN="$(prompt_secret SLACK_BOT_TOKEN 'Slack bot token, xoxb-... (OAuth & Permissions)')"
fi
SLACK_BOT_TOKEN="${SLACK_BOT_TOKEN:-}"
export SLACK_SIGNING_SECRET SLACK_BOT_TOKEN

# Merge in python (values read from the environment, never from argv), then hand the
# new JSON to the AWS CLI through a file descriptor, not a command-line argument.
merged="$(CURRENT="$current" python3 - <<'PY'
import json, os, sys

current = json.loads(os.environ["CURRENT"] or "{}")
if not isinstance(current, dict):
    sys.exit("the secret is not a JSON object")
signing = os.environ["SLACK_SIGNING_SECRET"].strip()
bot = os.environ["SLACK_BOT_TOKEN"].strip()
if not signing:
    sys.exit("the signing secret is empty")
if bot and not bot.startswith("xoxb-"):
    sys.exit("the bot token should start with xoxb-")
current["signing_secret"] = signing
if bot:
    current["bot_token"] = bot
for env, key in (("SLACK_CLIENT_ID", "client_id"), ("SLACK_CLIENT_SECRET", "client_secret"),
                 ("MEETING_API_TOKEN", "meeting_api_token")):
    value = os.environ.get(env, "").strip()
    if value:
        current[key] = value
if not current.get("provider_webhook_secret"):
    sys.exit("provider_webhook_secret is missing from the secret (was it created by the stack?)")
print(json.dumps(current))
PY
)"

printf '%s' "$merged" | awsr secretsmanager put-secret-value --secret-id "$secret_id" \
  --secret-string "file:///dev/stdin" --query VersionId --output text >/dev/null
unset merged current

echo "updated: signing_secret$( [ -n "$SLACK_BOT_TOKEN" ] && printf ', bot_token')$( [ -n "${SLACK_CLIENT_ID:-}" ] && printf ', client_id')$( [ -n "${SLACK_CLIENT_SECRET:-}" ] && printf ', client_secret')$( [ -n "${MEETING_API_TOKEN:-}" ] && printf ', meeting_api_token')"
echo "running functions use a new signing secret at once (they fetch again when a signature does not match), other values within 5 minutes (secret cache TTL); new ones use all at once."
