#!/usr/bin/env bash
# Offline deployment checks; CI runs this after the tests (.ci/run).
#
#   infra/check-deploy.sh            everything below
#   SKIP_SAM_BUILD=1 infra/...       all but the arm64 build (quick template iteration)
#
# 1. tools     one venv, .tools/deploy-venv (gitignored), from infra/deploy-tools.txt:
#              aws-sam-cli, cfn-lint, cargo-lambda and ziglang (prebuilt wheels, never
#              compiled here); reused while that file is unchanged. Plus the Rust
#              aarch64-unknown-linux-gnu target, added with rustup when missing.
# 2. validate  `sam validate --lint` and plain `sam validate`
# 3. expand    the SAM template -> CloudFormation with samtranslator, no AWS calls;
#              cfn-lint on the result (catches what linting the SAM file misses, e.g. a
#              bad Runtime or Architectures in Globals), and the application's contract
#              (routes, env var names, stream filter, least-privilege IAM, alarms)
# 4. manifest  infra/slack-app-manifest.yaml against Slack's manifest schema rules
# 5. secrets   infra/set-slack-secrets.sh against a stand-in `aws`: merges, prints nothing;
#    redrive   infra/redrive-dead-letters.sh's offline tests (infra/test_redrive_dead_letters.py)
# 6. build     the five functions resolve the same dependency features (else sam build
#              compiles the tree again), the five binaries in one cargo-lambda run
#              (parallel links), then `sam build` (cargo-lambda, zig, arm64), which
#              finds them fresh, then every function's bootstrap: arm64 ELF,
#              glibc <= 2.34 (provided.al2023), zipped <= MAX_ZIP_BYTES
#
# Needs no AWS account or credentials: every AWS-facing command gets dummy credentials
# and no config files. Network: PyPI (first run) and rustup's dist server (if the target
# is missing); cargo needs crates.io unless the dependencies are already fetched.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

VENV="$ROOT/.tools/deploy-venv"
REQUIREMENTS="infra/deploy-tools.txt"
TARGET="aarch64-unknown-linux-gnu"
MAX_ZIP_BYTES="${MAX_ZIP_BYTES:-3000000}" # 3 MB per zipped function
OUT="$ROOT/.aws-sam"
LOGS="$OUT/check-logs"
mkdir -p "$LOGS"

# ------------------------------------------------------------------ helpers
declare -a TIMINGS=()
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

print_timings() {
  echo
  echo "== check-deploy timings"
  local row
  for row in "${TIMINGS[@]}"; do echo "  $row"; done
}

# step NAME COMMAND...: runs it, records its time, stops everything on failure.
# The command runs in a subshell with errexit on: inside `if cmd` bash would silently
# ignore `set -e` in cmd's body and only look at its last command.
step() {
  local name="$1"; shift
  local start rc
  start="$(now)"
  echo
  echo "== $name"
  set +e
  (set -e; "$@")
  rc=$?
  set -e
  if [ "$rc" -eq 0 ]; then
    TIMINGS+=("$(printf '%-36s %8ss  ok' "$name" "$(elapsed "$start")")")
  else
    TIMINGS+=("$(printf '%-36s %8ss  FAILED (exit %s)' "$name" "$(elapsed "$start")" "$rc")")
    print_timings
    echo "check-deploy: FAILED at: $name" >&2
    exit "$rc"
  fi
}

# AWS-facing tools run with a throwaway identity and no user config, so the checks are
# the same on every machine and never reach an account.
aws_offline() {
  env -u AWS_SESSION_TOKEN -u AWS_SECURITY_TOKEN -u AWS_PROFILE -u AWS_DEFAULT_PROFILE \
    AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE AWS_SECRET_ACCESS_KEY=offline-checks \
    AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
    AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true \
    SAM_CLI_TELEMETRY=0 SAM_CLI_DISABLE_UPDATE_CHECK=1 \
    PATH="$VENV/bin:$PATH" "$@"
}

# ------------------------------------------------------------------ 1. tools
tools_venv() {
  local stamp="$VENV/.requirements.sha256"
  local want
  want="$( (cat "$REQUIREMENTS"; python3 --version) | sha256sum | cut -d' ' -f1)"
  if [ -x "$VENV/bin/sam" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "reusing $VENV"
  else
    python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
      || { echo "python3 >= 3.11 is required" >&2; return 1; }
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
      --only-binary=cargo-lambda,ziglang -r "$REQUIREMENTS"
    echo "$want" >"$stamp"
  fi
  "$VENV/bin/sam" --version
  echo "cfn-lint $("$VENV/bin/cfn-lint" --version | awk '{print $2}')," \
    "$("$VENV/bin/cargo-lambda" lambda --version 2>/dev/null || "$VENV/bin/cargo-lambda" --version)," \
    "zig $("$VENV/bin/python" -m ziglang version)"
}

rust_target() {
  if ! command -v rustup >/dev/null; then
    echo "rustup not found: the $TARGET target cannot be added" >&2
    return 1
  fi
  if rustup target list --installed | grep -qx "$TARGET"; then
    echo "$TARGET installed"
  else
    echo "adding $TARGET"
    rustup target add "$TARGET"
  fi
}

# ------------------------------------------------------------------ 2-5
sam_validate_lint() { aws_offline sam validate --lint --template-file template.yaml; }
sam_validate() { aws_offline sam validate --template-file template.yaml; }

expand_and_lint() {
  aws_offline python infra/deploy_checks.py expand "$OUT/expanded-template.json"
  local failed=0
  if aws_offline cfn-lint --format parseable -- "$OUT/expanded-template.json"; then
    echo "cfn-lint: expanded template clean"
  else
    failed=1
  fi
  aws_offline python infra/deploy_checks.py contract "$OUT/expanded-template.json" || failed=1
  return "$failed"
}

manifest() { aws_offline python infra/deploy_checks.py manifest; }

# set-slack-secrets.sh against a stand-in `aws` that keeps the secret in a file and
# logs its arguments: the merge keeps other keys, and no secret value is ever printed
# or passed on a command line.
secrets_script() {
  local dir; dir="$(mktemp -d)"
  # shellcheck disable=SC2064
  trap "rm -rf '$dir'" RETURN
  mkdir "$dir/bin"
  cat >"$dir/bin/aws" <<'STUB'
#!/usr/bin/env python3
import json, os, sys
args = sys.argv[1:]
with open(os.environ["STUB_ARGV_LOG"], "a") as log:
    log.write(json.dumps(args) + "\n")
store = os.environ["STUB_SECRET_FILE"]
if "describe-stacks" in args:
    print("arn:aws:secretsmanager:us-east-1:111122223333:secret:stub-AbCdEf")
elif "get-secret-value" in args:
    print(open(store).read())
elif "put-secret-value" in args:
    assert args[args.index("--secret-string") + 1] == "file:///dev/stdin", args
    value = sys.stdin.read()
    json.loads(value)
    open(store, "w").write(value)
    print("version-2")
else:
    sys.exit(f"stub aws: unexpected {args}")
STUB
  chmod +x "$dir/bin/aws"
  printf '%s' '{"signing_secret": "", "bot_token": "", "provider_webhook_secret": "GENERATEDprovider0123", "client_id": "keep-me"}' \
    >"$dir/secret.json"
  local out
  if ! out="$(env PATH="$dir/bin:$PATH" STUB_ARGV_LOG="$dir/argv.log" STUB_SECRET_FILE="$dir/secret.json" \
    SLACK_SIGNING_SECRET=sign-SECRET-8c1d SLACK_BOT_TOKEN=xoxb-TOKEN-77e2 \
    bash infra/set-slack-secrets.sh --stack stub-stack --region us-east-1 </dev/null 2>&1)"; then
    echo "$out"
    return 1
  fi
  echo "$out" | sed 's/^/  | /'
  python3 - "$dir" "$out" <<'PY'
import json, sys
d, out = sys.argv[1], sys.argv[2]
secret = json.load(open(f"{d}/secret.json"))
argv = open(f"{d}/argv.log").read()
problems = []
if secret != {"signing_secret": "sign-SECRET-8c1d", "bot_token": "xoxb-TOKEN-77e2",
              "provider_webhook_secret": "GENERATEDprovider0123", "client_id": "keep-me"}:
    problems.append(f"merged secret has the wrong keys: {sorted(secret)}")
for value in ("sign-SECRET-8c1d", "xoxb-TOKEN-77e2", "GENERATEDprovider0123"):
    if value in out:
        problems.append("a secret value was printed")
    if value in argv:
        problems.append("a secret value was passed on a command line")
if problems:
    sys.exit("set-slack-secrets.sh: " + "; ".join(sorted(set(problems))))
print("set-slack-secrets.sh: merged, kept the other keys, printed and exposed nothing")
PY
  # Without the values and without a terminal to ask on, it must refuse, not store blanks.
  if env PATH="$dir/bin:$PATH" STUB_ARGV_LOG="$dir/argv.log" STUB_SECRET_FILE="$dir/secret.json" \
    SLACK_SIGNING_SECRET= SLACK_BOT_TOKEN= \
    bash infra/set-slack-secrets.sh --stack stub-stack </dev/null >/dev/null 2>&1; then
    echo "set-slack-secrets.sh accepted missing values without a terminal" >&2
    return 1
  fi
  echo "set-slack-secrets.sh: refuses to run without values or a terminal"
  # An app installed through the install link: client id and secret, no bot token asked
  # for, and the bot token already in the secret kept.
  if ! env PATH="$dir/bin:$PATH" STUB_ARGV_LOG="$dir/argv.log" STUB_SECRET_FILE="$dir/secret.json" \
    SLACK_SIGNING_SECRET=sign-SECRET-8c1d SLACK_BOT_TOKEN= SLACK_CLIENT_ID=1234.5678 \
    SLACK_CLIENT_SECRET=client-SECRET-91ab \
    bash infra/set-slack-secrets.sh --stack stub-stack --region us-east-1 </dev/null >/dev/null 2>&1; then
    echo "set-slack-secrets.sh refused client credentials without a bot token" >&2
    return 1
  fi
  python3 - "$dir" <<'PY'
import json, sys
secret = json.load(open(f"{sys.argv[1]}/secret.json"))
want = {"signing_secret": "sign-SECRET-8c1d", "bot_token": "xoxb-TOKEN-77e2",
        "provider_webhook_secret": "GENERATEDprovider0123", "client_id": "1234.5678",
        "client_secret": "client-SECRET-91ab"}
if secret != want:
    sys.exit(f"set-slack-secrets.sh: client credentials merged wrongly: {sorted(secret)}")
print("set-slack-secrets.sh: client credentials without a bot token keep the stored one")
PY
}

# The dead-letter re-drive against a stand-in `aws` (its parsing, both ways of finding
# the jobs, what it deletes), and the sample worker event its Rust test also reads.
redrive_script() {
  python3 -m unittest infra/test_redrive_dead_letters.py 2>&1
  bash -n infra/redrive-dead-letters.sh
  echo "redrive-dead-letters.sh: offline tests passed"
}

# ------------------------------------------------------------------ 6. build
# `sam build` runs one cargo-lambda per function, each resolving features for that
# package alone: any dependency whose features differ from the five-package build
# (lambda_http asks for some the worker does not) is compiled again, with everything
# above it, and the binary linked again. The workspace asks for the union everywhere.
same_features() {
  local packages=() p args=() union diverging failed=0
  while read -r p; do packages+=("$p"); done < <(aws_offline python infra/deploy_checks.py packages)
  for p in "${packages[@]}"; do args+=(-p "$p"); done
  union="$(features_tree "${args[@]}")"
  for p in "${packages[@]}"; do
    diverging="$(LC_ALL=C comm -23 <(features_tree -p "$p") <(printf '%s\n' "$union"))"
    if [ -n "$diverging" ]; then
      echo "$p alone resolves other features than the five functions together:"
      printf '%s\n' "$diverging" | sed 's/^/  /'
      failed=1
    fi
  done
  [ "$failed" -eq 0 ] && echo "${#packages[@]} functions, one set of dependency features"
  return "$failed"
}

# Every package of the arm64 build with its features, one per line, sorted.
features_tree() {
  cargo tree --locked --target "$TARGET" -e normal,build -f '{p} [{f}]' --prefix none "$@" \
    | sed 's/ (\*)$//' | LC_ALL=C sort -u
}

prebuild() {
  # One cargo-lambda invocation for the five function packages, so cargo links (fat
  # LTO, one codegen unit: about a minute each) on both cores at once. `sam build`
  # then runs one cargo-lambda per function, sequentially, into the same target dir,
  # and finds them fresh (same_features makes sure).
  local packages=() p
  while read -r p; do packages+=(-p "$p"); done < <(aws_offline python infra/deploy_checks.py packages)
  local log="$LOGS/cargo-lambda-build.log"
  echo "cargo lambda build --release --arm64 ${packages[*]}  (log: ${log#"$ROOT"/})"
  if ! aws_offline timeout 60m cargo lambda build --release --arm64 "${packages[@]}" >"$log" 2>&1; then
    tail -n 60 "$log"
    return 1
  fi
  tail -n 1 "$log"
}

sam_build() {
  # cargo-lambda (and the zig it links with) come from the venv. All five functions
  # build into the workspace's one target dir (or $CARGO_TARGET_DIR when set), so the
  # dependency tree is compiled once, not once per function.
  local log="$LOGS/sam-build.log"
  echo "(log: ${log#"$ROOT"/})"
  if ! aws_offline timeout 60m sam build --template-file template.yaml >"$log" 2>&1; then
    tail -n 60 "$log"
    return 1
  fi
  grep -E "^(Building codeuri|Build Succeeded)" "$log" | sed 's/^/  /' || true
  local function
  for function in CallButtonFunction EventsFunction CallEndFunction WorkerFunction InstallFunction; do
    test -f "$OUT/build/$function/bootstrap" || { echo "missing $OUT/build/$function/bootstrap" >&2; return 1; }
  done
}

artifacts() {
  aws_offline python infra/deploy_checks.py artifacts "$OUT/build" "$OUT/zips" "$MAX_ZIP_BYTES"
}

# ------------------------------------------------------------------ run
step "tools: venv" tools_venv
step "tools: rust $TARGET" rust_target
step "sam validate --lint" sam_validate_lint
step "sam validate" sam_validate
step "translate + cfn-lint + contract" expand_and_lint
step "slack app manifest" manifest
step "set-slack-secrets.sh" secrets_script
step "redrive-dead-letters.sh" redrive_script
if [ "${SKIP_SAM_BUILD:-}" = "1" ]; then
  TIMINGS+=("$(printf '%-36s %8s   skipped (SKIP_SAM_BUILD=1)' "sam build" "-")")
else
  step "functions: same dependency features" same_features
  step "cargo lambda build (arm64, 5 bins)" prebuild
  step "sam build (arm64, 5 functions)" sam_build
  step "artifacts: arm64, glibc, zip size" artifacts
fi
print_timings
echo "check-deploy: all checks passed"
