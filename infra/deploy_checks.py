#!/usr/bin/env python3
"""Offline checks of the deployment files, run by infra/check-deploy.sh in its venv.

  deploy_checks.py expand OUT.json   SAM template -> CloudFormation with samtranslator
                                     (no AWS calls), for cfn-lint to lint the result
  deploy_checks.py contract OUT.json the template keeps the application's contract:
                                     routes, env var names, stream filter, IAM scope, ...
  deploy_checks.py manifest          infra/slack-app-manifest.yaml has the shape Slack's
                                     app manifest schema (v1) documents, and matches us
  deploy_checks.py packages          the cargo packages of the five functions (one a line)
  deploy_checks.py artifacts BUILD_DIR ZIP_DIR MAX_BYTES
                                     each function's bootstrap from `sam build`: an arm64
                                     Linux executable that provided.al2023's glibc can load;
                                     zipped as Lambda receives it, and no larger than MAX_BYTES

Each prints what it checked and exits non-zero with every problem it found.
"""

from __future__ import annotations

import copy
import json
import os
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
MANIFEST = ROOT / "infra" / "slack-app-manifest.yaml"
# The bot scopes the install link asks for (BOT_SCOPES): the manifest must list the same.
INSTALL_FLOW = ROOT / "shared" / "src" / "flows" / "install.rs"

# The environment variables the code reads (shared/src/config.rs, secrets via SECRET_ID).
ENV_CONTRACT = {
    "CALLS_TABLE",
    "SECRET_ID",
    "TOKEN_KMS_KEY_ID",
    "SLACK_API_URL",
    "JOIN_URL_TEMPLATE",
    "DESKTOP_JOIN_URL_TEMPLATE",
    "PHONE_CALL_URL_TEMPLATE",
    "DESKTOP_PHONE_CALL_URL_TEMPLATE",
    "MEETING_API_URL",
    "RESPONSE_URL_HOSTS",
    "UNFURL_DOMAINS",
    "PROVIDER_CALLBACK_URL",
    "STALE_CALL_MINUTES",
    "MAX_CALL_HOURS",
    "RUST_LOG",
    "METRICS_NAMESPACE",
    "SLACK_AUTHORIZE_URL",
    "SLACK_REDIRECT_URI",
    "SLACK_APP_ID",
}
# Parameter defaults that must equal the code's defaults.
PARAM_DEFAULTS = {
    "SlackApiUrl": "https://slack.com/api/",
    "JoinUrlTemplate": "https://meet.jit.si/{room}",
    "ResponseUrlHosts": "hooks.slack.com,slack.com",
    "StaleCallMinutes": 30,
    "MaxCallHours": 12,
    "DesktopJoinUrlTemplate": "",
    "PhoneCallUrlTemplate": "",
    "DesktopPhoneCallUrlTemplate": "",
    "MeetingApiUrl": "",
    "UnfurlDomains": "",
    "ProviderCallbackUrl": "",
    "SlackAuthorizeUrl": "https://slack.com/oauth/v2/authorize",
    "SlackRedirectUrl": "",
}
# Logical id -> (binary, its HTTP routes).
FUNCTIONS = {
    "CallButtonFunction": ("call-button", [("POST", "/slack/commands")]),
    "EventsFunction": ("events", [("POST", "/slack/events")]),
    "CallEndFunction": ("call-end", [("POST", "/provider/events")]),
    "WorkerFunction": ("worker", []),
    "InstallFunction": ("install", [("GET", "/slack/install"), ("GET", "/slack/oauth_redirect")]),
}
# DynamoDB actions per role: what each function's flows use (keep in step with the store
# adapter; TransactWriteItems is authorised per contained action).
TABLE_ACTIONS = {
    "CallButtonRole": {"GetItem", "PutItem"},
    "EventsRole": {"GetItem", "PutItem"},
    "CallEndRole": {"BatchGetItem", "GetItem", "PutItem"},
    "WorkerRole": {"BatchGetItem", "GetItem", "PutItem", "DeleteItem", "Query"},
    "InstallRole": {"GetItem", "PutItem", "DeleteItem"},
}
# The kinds of item (partition key prefixes) each role's item actions may touch.
LEADING_KEYS = {
    "CallButtonRole": {"CALL#*", "JOB#*", "TEAM#*", "ORG#*"},
    "EventsRole": {"EVENT#*", "JOB#*", "TEAM#*", "ORG#*"},
    "CallEndRole": {"CALL#*", "JOB#*"},
    "WorkerRole": {"CALL#*", "JOB#*", "TEAM#*", "ORG#*"},
    "InstallRole": {"STATE#*", "TEAM#*", "ORG#*"},
}
# Installations' items (uninstall) and install states (used once): the only kinds of
# item a role may delete.
INSTALLATION_KEYS = {"TEAM#*", "ORG#*"}
DELETABLE_KEYS = INSTALLATION_KEYS | {"STATE#*"}
# KMS actions on the token key per role: only functions that call Slack open tokens;
# those that refresh or install seal them.
KMS_ACTIONS = {
    "CallButtonRole": set(),
    "EventsRole": set(),
    "CallEndRole": set(),
    "WorkerRole": {"kms:Decrypt", "kms:Encrypt"},
    "InstallRole": {"kms:Encrypt"},
}
# Reserved concurrency per function when ReserveConcurrency is "true".
RESERVED_CONCURRENCY = {
    "CallButtonFunction": 20,
    "EventsFunction": 20,
    "CallEndFunction": 10,
    "WorkerFunction": 10,
    "InstallFunction": 5,
}
# DynamoDB calls in the store adapter's source -> the IAM action each needs.
STORE_SOURCE = ROOT / "shared" / "src" / "store" / "dynamodb"
SDK_CALL_ACTIONS = {
    r"\.get_item\(\)": "GetItem",
    r"\.put_item\(\)": "PutItem",
    r"\.update_item\(\)": "UpdateItem",
    r"\.delete_item\(\)": "DeleteItem",
    r"\.query\(\)": "Query",
    r"\.scan\(\)": "Scan",
    r"\.batch_get_item\(\)": "BatchGetItem",
    r"\.batch_write_item\(\)": "BatchWriteItem",
    r"\.transact_get_items\(\)": "GetItem",
    r"\bPut::builder\(\)": "PutItem",
    r"\bUpdate::builder\(\)": "UpdateItem",
    r"\bDelete::builder\(\)": "DeleteItem",
    r"\bConditionCheck::builder\(\)": "ConditionCheckItem",
}
# Used by the store adapter, but only outside Lambda (the local server resuming jobs).
LOCAL_ONLY_ACTIONS = {"Scan"}
STREAM_ACTIONS = {"DescribeStream", "GetRecords", "GetShardIterator", "ListStreams"}
JOB_FILTER = {"eventName": ["INSERT"], "dynamodb": {"Keys": {"sk": {"S": ["JOB"]}}}}
FORBIDDEN_ACTIONS = re.compile(r"^(dynamodb:(Scan|BatchWriteItem|DeleteTable|\*)|.*\*.*)$")


class Problems:
    def __init__(self) -> None:
        self.items: list[str] = []
        self.checked = 0

    def check(self, ok: bool, message: str) -> None:
        self.checked += 1
        if not ok:
            self.items.append(message)

    def finish(self, what: str) -> None:
        if self.items:
            print(f"{what}: {len(self.items)} problem(s) in {self.checked} checks:")
            for item in self.items:
                print(f"  - {item}")
            sys.exit(1)
        print(f"{what}: {self.checked} checks passed")


def load_template() -> dict:
    from samtranslator.yaml_helper import yaml_parse

    return yaml_parse(TEMPLATE.read_text())


# ---------------------------------------------------------------- expand


class _NoManagedPolicies:
    """The template names no managed policies; anything asking for them is a finding."""

    def load(self) -> dict[str, str]:
        return {}


def expand(out: Path) -> None:
    from samtranslator.translator.transform import transform

    template = load_template()
    sam = copy.deepcopy(template)
    # `sam build` / `sam package` replace local CodeUri paths with S3 locations; the
    # translator only accepts the latter.
    for logical_id, resource in sam["Resources"].items():
        if resource.get("Type") == "AWS::Serverless::Function":
            code_uri = resource["Properties"].get("CodeUri")
            if isinstance(code_uri, str) and not code_uri.startswith("s3://"):
                resource["Properties"]["CodeUri"] = f"s3://example-bucket/{logical_id}.zip"
    cfn = transform(sam, {}, _NoManagedPolicies())
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(cfn, indent=1, sort_keys=True))
    kinds: dict[str, int] = {}
    for resource in cfn["Resources"].values():
        kinds[resource["Type"]] = kinds.get(resource["Type"], 0) + 1
    print(f"expanded {len(cfn['Resources'])} resources to {out.relative_to(ROOT)}:")
    for kind in sorted(kinds):
        print(f"  {kinds[kind]:2d} {kind}")


# ---------------------------------------------------------------- contract


def _bin_names(code_uri: str) -> set[str]:
    cargo = tomllib.loads((ROOT / code_uri / "Cargo.toml").read_text())
    names = {b["name"] for b in cargo.get("bin", [])}
    if not names and (ROOT / code_uri / "src" / "main.rs").exists():
        names.add(cargo["package"]["name"])
    return names


def _statements(role: dict) -> list[dict]:
    """Every statement a role may hold: both branches of a conditional one."""
    out = []
    for policy in role["Properties"].get("Policies", []):
        for st in policy["PolicyDocument"]["Statement"]:
            if "Fn::If" in st:
                out.extend(b for b in st["Fn::If"][1:] if isinstance(b, dict) and "Effect" in b)
            else:
                out.append(st)
    return out


def _conditional_statements(role: dict) -> list[tuple[str, dict]]:
    """(condition, statement) of each statement a role holds only under a condition."""
    out = []
    for policy in role["Properties"].get("Policies", []):
        for st in policy["PolicyDocument"]["Statement"]:
            if "Fn::If" in st:
                cond, yes, no = st["Fn::If"]
                if isinstance(yes, dict) and "Effect" in yes and no == {"Ref": "AWS::NoValue"}:
                    out.append((cond, yes))
    return out


METRICS_RS = ROOT / "shared" / "src" / "metrics.rs"
XRAY_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def metric_catalogue() -> dict[str, list[list[str]]]:
    """The metrics shared/src/metrics.rs emits: name -> dimension sets."""
    text = METRICS_RS.read_text()
    catalogue = {}
    for m in re.finditer(r'MetricKind \{\s*name: "(\w+)",\s*unit: Unit::\w+,\s*dimension_sets: &\[(.*?)\],\s*\}',
                         text, re.S):
        sets = [re.findall(r'"(\w+)"', group) for group in re.findall(r"&\[([^\]]*)\]", m.group(2))]
        catalogue[m.group(1)] = sets
    return catalogue


def service_dimension() -> str:
    m = re.search(r'pub const SERVICE: &str = "([^"]+)";', METRICS_RS.read_text())
    return m.group(1) if m else ""


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def contract(expanded_path: Path) -> None:
    p = Problems()
    t = load_template()
    cfn = json.loads(expanded_path.read_text())
    res = t["Resources"]
    glob = t.get("Globals", {}).get("Function", {})

    # Parameters mirror the code's defaults.
    for name, default in PARAM_DEFAULTS.items():
        param = t["Parameters"].get(name)
        p.check(param is not None, f"parameter {name} missing")
        if param is not None:
            p.check(str(param.get("Default")) == str(default),
                    f"parameter {name} default {param.get('Default')!r}, the code's is {default!r}")

    # Environment: the exact contract names, on every function.
    env_names = set(glob.get("Environment", {}).get("Variables", {}))
    for fn in FUNCTIONS:
        env_names |= set(res[fn]["Properties"].get("Environment", {}).get("Variables", {}))
    p.check(env_names == ENV_CONTRACT,
            f"environment variables differ from the contract: missing {sorted(ENV_CONTRACT - env_names)}, "
            f"unknown {sorted(env_names - ENV_CONTRACT)}")

    api_routes = {}
    for fn, (binary, _) in FUNCTIONS.items():
        r = res.get(fn)
        p.check(r is not None and r["Type"] == "AWS::Serverless::Function", f"{fn} missing")
        if r is None:
            continue
        props = {**{k: v for k, v in glob.items() if k != "Environment"}, **r["Properties"]}
        p.check(props.get("Runtime") == "provided.al2023", f"{fn}: runtime {props.get('Runtime')}")
        p.check(props.get("Architectures") == ["arm64"], f"{fn}: architectures {props.get('Architectures')}")
        p.check(props.get("Handler") == "bootstrap", f"{fn}: handler {props.get('Handler')}")
        meta = r.get("Metadata", {})
        p.check(meta.get("BuildMethod") == "rust-cargolambda", f"{fn}: BuildMethod {meta.get('BuildMethod')}")
        got_binary = meta.get("BuildProperties", {}).get("Binary")
        p.check(got_binary == binary, f"{fn}: Binary {got_binary!r}, expected {binary!r}")
        code_uri = props.get("CodeUri")
        try:
            bins = _bin_names(code_uri)
        except (OSError, KeyError, TypeError) as e:
            bins = set()
            p.check(False, f"{fn}: CodeUri {code_uri!r} has no readable Cargo.toml ({e})")
        p.check(binary in bins, f"{fn}: binary {binary!r} is not a [[bin]] of {code_uri} ({sorted(bins)})")
        logging_config = props.get("LoggingConfig", {})
        p.check(logging_config.get("LogFormat") == "JSON", f"{fn}: LoggingConfig.LogFormat is not JSON")
        group = logging_config.get("LogGroup", {})
        group_id = group.get("Ref") if isinstance(group, dict) else None
        p.check(group_id in res and res[group_id]["Type"] == "AWS::Logs::LogGroup"
                and "RetentionInDays" in res[group_id]["Properties"],
                f"{fn}: LoggingConfig.LogGroup is not a log group of this stack with a retention")
        role = props.get("Role", {})
        role_id = role.get("Fn::GetAtt", [None])[0] if isinstance(role, dict) else None
        p.check(role_id in res and res[role_id]["Type"] == "AWS::IAM::Role",
                f"{fn}: no explicit least-privilege role")
        p.check("Policies" not in r["Properties"], f"{fn}: SAM policy templates instead of its own role")
        p.check(isinstance(props.get("MemorySize"), int) and isinstance(props.get("Timeout"), int),
                f"{fn}: MemorySize and Timeout must be set")
        for ev_name, ev in r["Properties"].get("Events", {}).items():
            if ev["Type"] == "HttpApi":
                ep = ev["Properties"]
                api_routes[(ep.get("Method"), ep.get("Path"))] = fn
                p.check(str(ep.get("PayloadFormatVersion")) == "2.0", f"{fn}.{ev_name}: payload format not 2.0")
                p.check(ep.get("ApiId") == {"Ref": "SlackCallsApi"}, f"{fn}.{ev_name}: not on SlackCallsApi")
        if fn in ("CallButtonFunction", "EventsFunction"):
            p.check(props.get("Timeout", 99) <= 10, f"{fn}: Slack waits 3 s; timeout {props.get('Timeout')} s")
    for fn, (_, routes) in FUNCTIONS.items():
        for route in routes:
            p.check(api_routes.get(route) == fn, f"route {route} goes to {api_routes.get(route)}, not {fn}")
    expected_routes = sum(len(routes) for _, routes in FUNCTIONS.values())
    p.check(len(api_routes) == expected_routes,
            f"expected exactly {expected_routes} routes, found {sorted(api_routes)}")

    # Worker triggers.
    events = res["WorkerFunction"]["Properties"].get("Events", {})
    streams = [e["Properties"] for e in events.values() if e["Type"] == "DynamoDB"]
    schedules = [e["Properties"] for e in events.values() if e["Type"] == "Schedule"]
    p.check(len(streams) == 1, "worker: expected one DynamoDB stream trigger")
    if streams:
        s = streams[0]
        p.check(s.get("Stream") == {"Fn::GetAtt": ["CallsTable", "StreamArn"]}, "worker: not the table's stream")
        patterns = [json.loads(f["Pattern"]) for f in s.get("FilterCriteria", {}).get("Filters", [])]
        p.check(patterns == [JOB_FILTER], f"worker: stream filter {patterns} is not job inserts only")
        p.check(s.get("FunctionResponseTypes") == ["ReportBatchItemFailures"], "worker: no ReportBatchItemFailures")
        p.check(s.get("BisectBatchOnFunctionError") is True, "worker: BisectBatchOnFunctionError not true")
        p.check(isinstance(s.get("MaximumRetryAttempts"), int) and 0 <= s["MaximumRetryAttempts"] <= 10,
                "worker: MaximumRetryAttempts unbounded")
        p.check(isinstance(s.get("MaximumRecordAgeInSeconds"), int) and 60 <= s["MaximumRecordAgeInSeconds"] <= 3600,
                "worker: MaximumRecordAgeInSeconds unbounded")
        dest = s.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        p.check(dest == {"Fn::GetAtt": ["JobDeadLetterQueue", "Arn"]}, "worker: on-failure destination is not the DLQ")
    p.check(len(schedules) == 1 and schedules[0].get("Schedule") == "rate(5 minutes)",
            "worker: expected one Schedule event, rate(5 minutes)")

    # Secret: generated, never a literal value.
    secret = res.get("SlackSecret", {}).get("Properties", {})
    p.check("SecretString" not in secret, "SlackSecret carries a literal SecretString")
    gen = secret.get("GenerateSecretString", {})
    p.check(gen.get("GenerateStringKey") == "provider_webhook_secret", "secret: provider_webhook_secret not generated")
    try:
        tmpl = json.loads(gen.get("SecretStringTemplate", ""))
    except ValueError:
        tmpl = None
    p.check(tmpl == {"signing_secret": "", "bot_token": ""},
            f"secret: SecretStringTemplate {tmpl!r} should hold empty signing_secret and bot_token")
    p.check(gen.get("ExcludePunctuation") is True, "secret: punctuation not excluded")
    samconfig = (ROOT / "samconfig.toml").read_text()
    p.check(not re.search(r"xox[abp]-|signing_secret\s*=|[0-9]{12}", samconfig),
            "samconfig.toml looks like it holds a token, a secret or an account id")

    # IAM, on the expanded template (what CloudFormation will really create).
    cres = cfn["Resources"]
    roles = {k: v for k, v in cres.items() if v["Type"] == "AWS::IAM::Role"}
    p.check(set(roles) == set(TABLE_ACTIONS),
            f"unexpected roles: {sorted(roles)} (SAM-generated roles attach broad managed policies)")
    for name, role in roles.items():
        p.check(not role["Properties"].get("ManagedPolicyArns"), f"{name}: managed policies attached")
        for st in _statements(role):
            for action in _as_list(st["Action"]):
                p.check(not FORBIDDEN_ACTIONS.match(action), f"{name}: action {action} not allowed")
            for resource in _as_list(st["Resource"]):
                # X-Ray takes no resource-level permissions; nothing else may be on '*'.
                xray_only = set(_as_list(st["Action"])) <= XRAY_ACTIONS
                p.check(resource != "*" or xray_only, f"{name}: statement {st.get('Sid')} on Resource '*'")
    for name, resource in cres.items():
        if resource["Type"] == "AWS::IAM::Policy":
            p.check(False, f"{name}: extra IAM policy (SAM-generated?)")
    for name, expected in TABLE_ACTIONS.items():
        got = {a.split(":", 1)[1] for st in _statements(roles.get(name, {"Properties": {}}))
               for a in _as_list(st["Action"]) if a.startswith("dynamodb:")}
        got -= STREAM_ACTIONS if name == "WorkerRole" else set()
        p.check(got == expected, f"{name}: DynamoDB actions {sorted(got)}, expected {sorted(expected)}")
    # Item actions on the table only for the role's kinds of item (all of them, over its
    # statements); deletes only of installations; queries on indexes, or the base table
    # within one call's partition (its participants).
    item_actions = {"BatchGetItem", "GetItem", "PutItem", "UpdateItem", "DeleteItem", "ConditionCheckItem"}
    for name, prefixes in LEADING_KEYS.items():
        covered: set[str] = set()
        for st in _statements(roles.get(name, {"Properties": {}})):
            actions = {a.split(":", 1)[1] for a in _as_list(st["Action"]) if a.startswith("dynamodb:")}
            if actions & item_actions:
                leading = set(_as_list(st.get("Condition", {}).get("ForAllValues:StringLike", {})
                                       .get("dynamodb:LeadingKeys") or []))
                covered |= leading
                p.check(bool(leading) and leading <= prefixes,
                        f"{name}: {st.get('Sid')} item actions limited to {sorted(leading)}, "
                        f"expected within {sorted(prefixes)}")
                p.check("DeleteItem" not in actions or leading <= DELETABLE_KEYS,
                        f"{name}: {st.get('Sid')} deletes {sorted(leading - DELETABLE_KEYS)}, "
                        f"only {sorted(DELETABLE_KEYS)} may be deleted")
                p.check(_as_list(st["Resource"]) == [{"Fn::GetAtt": ["CallsTable", "Arn"]}],
                        f"{name}: {st.get('Sid')} item actions beyond the table itself")
            if "Query" in actions:
                # The base table only within one call's partition (its participants).
                leading = (st.get("Condition", {}).get("ForAllValues:StringLike", {})
                           .get("dynamodb:LeadingKeys"))
                p.check(all("/index/" in json.dumps(r) for r in _as_list(st["Resource"]))
                        or _as_list(leading or []) == ["CALL#*"],
                        f"{name}: {st.get('Sid')} queries the base table beyond a call's partition")
        p.check(covered == prefixes, f"{name}: item actions cover {sorted(covered)}, expected {sorted(prefixes)}")
    # The token key: rotated, kept, and used only by the roles that need it, only on it,
    # only with an installation as encryption context.
    key = res.get("TokenKey", {})
    p.check(key.get("Type") == "AWS::KMS::Key", "TokenKey: no KMS key for the tokens")
    p.check(key.get("Properties", {}).get("EnableKeyRotation") is True, "TokenKey: key rotation is off")
    p.check(key.get("DeletionPolicy") == "Retain" and key.get("UpdateReplacePolicy") == "Retain",
            "TokenKey: DeletionPolicy and UpdateReplacePolicy must be Retain (the tokens it sealed outlive the stack)")
    p.check(glob.get("Environment", {}).get("Variables", {}).get("TOKEN_KMS_KEY_ID") == {"Fn::GetAtt": ["TokenKey", "Arn"]},
            "TOKEN_KMS_KEY_ID is not the token key's ARN")
    for name, expected in KMS_ACTIONS.items():
        got: set[str] = set()
        for st in _statements(roles.get(name, {"Properties": {}})):
            kms = {a for a in _as_list(st["Action"]) if a.startswith("kms:")}
            if not kms:
                continue
            got |= kms
            p.check(_as_list(st["Resource"]) == [{"Fn::GetAtt": ["TokenKey", "Arn"]}],
                    f"{name}: {st.get('Sid')} KMS actions beyond the token key")
            context = st.get("Condition", {}).get("StringLike", {}).get("kms:EncryptionContext:installation")
            p.check(set(_as_list(context or [])) == INSTALLATION_KEYS,
                    f"{name}: {st.get('Sid')} KMS actions not bound to an installation's encryption context")
        p.check(got == expected, f"{name}: KMS actions {sorted(got)}, expected {sorted(expected)}")
    # What the store adapter sends is granted to some role (or is local-only), so a new
    # kind of request cannot reach Lambda without its permission.
    used = set()
    for source in sorted(STORE_SOURCE.rglob("*.rs")):
        text = source.read_text()
        used |= {action for pattern, action in SDK_CALL_ACTIONS.items() if re.search(pattern, text)}
    # Every kind of item the store keys (its partition key prefixes) is some role's.
    items_rs = (STORE_SOURCE / "items.rs").read_text()
    # (Sort key prefixes, such as a participant's under its call, are not item kinds.)
    prefixes = {f"{p}#*" for line in items_rs.splitlines() if "SK_PREFIX" not in line
                for p in re.findall(r'"([A-Z]+)#', line)}
    p.check(bool(prefixes), "no partition key prefixes found in the store's items.rs")
    p.check(prefixes <= set().union(*LEADING_KEYS.values()),
            f"item kinds {sorted(prefixes - set().union(*LEADING_KEYS.values()))} are in no role's LeadingKeys")
    granted = set().union(*TABLE_ACTIONS.values())
    p.check(bool(used), f"no DynamoDB calls found in {STORE_SOURCE.relative_to(ROOT)}")
    p.check(used - LOCAL_ONLY_ACTIONS <= granted,
            f"the store adapter uses {sorted(used - LOCAL_ONLY_ACTIONS - granted)}, granted to no role")
    p.check(granted <= used, f"roles are granted {sorted(granted - used)}, which the store never uses")
    worker_actions = {a for st in _statements(roles.get("WorkerRole", {"Properties": {}})) for a in _as_list(st["Action"])}
    for needed in ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator",
                   "dynamodb:ListStreams", "sqs:SendMessage", "secretsmanager:GetSecretValue"):
        p.check(needed in worker_actions, f"WorkerRole lacks {needed}")
    mappings = [v for v in cres.values() if v["Type"] == "AWS::Lambda::EventSourceMapping"]
    p.check(len(mappings) == 1, "expected one event source mapping")
    for m in mappings:
        p.check("Type" not in m["Properties"].get("DestinationConfig", {}).get("OnFailure", {}),
                "event source mapping: OnFailure.Type leaked into CloudFormation")

    # State and fairness: the table outlives the stack, each function has its own share.
    table = res.get("CallsTable", {})
    p.check(table.get("DeletionPolicy") == "Retain" and table.get("UpdateReplacePolicy") == "Retain",
            "CallsTable: DeletionPolicy and UpdateReplacePolicy must be Retain")
    # Reconciliation: the sweep finds calls Slack lacks something for through a sparse,
    # keys-only index sorted by due time (the store's `calls_due_for_sync` queries it).
    gsis = {g["IndexName"]: g for g in table.get("Properties", {}).get("GlobalSecondaryIndexes", [])}
    needs_sync = gsis.get("needs_sync", {})
    p.check([(k["AttributeName"], k["KeyType"]) for k in needs_sync.get("KeySchema", [])]
            == [("needs_sync", "HASH"), ("sync_due_at", "RANGE")],
            "CallsTable: index needs_sync must be keyed needs_sync (HASH) + sync_due_at (RANGE)")
    p.check(needs_sync.get("Projection") == {"ProjectionType": "KEYS_ONLY"},
            "CallsTable: index needs_sync must project KEYS_ONLY (it is written with every call)")
    worker_queries = [st for st in _statements(roles.get("WorkerRole", {"Properties": {}}))
                      if "dynamodb:Query" in _as_list(st["Action"])]
    p.check(any("/index/*" in json.dumps(st["Resource"]) or "/index/needs_sync" in json.dumps(st["Resource"])
                for st in worker_queries), "WorkerRole cannot query the needs_sync index (the sweep)")
    for fn, reserved in RESERVED_CONCURRENCY.items():
        got = res.get(fn, {}).get("Properties", {}).get("ReservedConcurrentExecutions")
        p.check(got == {"Fn::If": ["ReservesConcurrency", reserved, {"Ref": "AWS::NoValue"}]},
                f"{fn}: ReservedConcurrentExecutions {got!r}, expected {reserved} when ReserveConcurrency")
    p.check(t["Conditions"].get("ReservesConcurrency") == {"Fn::Equals": [{"Ref": "ReserveConcurrency"}, "true"]},
            "condition ReservesConcurrency must follow the ReserveConcurrency parameter")
    p.check(t["Parameters"].get("ReserveConcurrency", {}).get("Default") == "true",
            "ReserveConcurrency must default to true")

    # Observability.
    api = res.get("SlackCallsApi", {}).get("Properties", {})
    p.check("DestinationArn" in api.get("AccessLogSettings", {}), "HTTP API without access logs")
    drs = api.get("DefaultRouteSettings", {})
    p.check("ThrottlingRateLimit" in drs and "ThrottlingBurstLimit" in drs, "HTTP API without default throttling")
    alarms = [v["Properties"] for v in res.values() if v["Type"] == "AWS::CloudWatch::Alarm"]
    dims = lambda a: {d["Name"]: json.dumps(d["Value"]) for d in a.get("Dimensions", [])}  # noqa: E731
    for fn in FUNCTIONS:
        p.check(any(a["MetricName"] == "Errors" and dims(a).get("FunctionName") == json.dumps({"Ref": fn})
                    for a in alarms), f"no Errors alarm for {fn}")
    p.check(any(a["Namespace"] == "AWS/SQS" and a["MetricName"] == "ApproximateNumberOfMessagesVisible"
                for a in alarms), "no dead-letter queue alarm")
    p.check(any(a["Namespace"] == "AWS/ApiGateway" and a["MetricName"] == "5xx" for a in alarms), "no API 5xx alarm")

    # Optional tracing: one parameter, off by default, turning on X-Ray on every function
    # and the two X-Ray actions in every role, only then.
    tracing_param = t["Parameters"].get("EnableTracing", {})
    p.check(str(tracing_param.get("Default")) == "false", "parameter EnableTracing must default to false")
    p.check(t.get("Conditions", {}).get("TracingEnabled") == {"Fn::Equals": [{"Ref": "EnableTracing"}, "true"]},
            "condition TracingEnabled must be EnableTracing == true")
    p.check(glob.get("Tracing") == {"Fn::If": ["TracingEnabled", "Active", "PassThrough"]},
            "Globals.Function.Tracing must be Active only when TracingEnabled")
    for name, role in roles.items():
        xray = [st for cond, st in _conditional_statements(role)
                if cond == "TracingEnabled" and set(_as_list(st["Action"])) == XRAY_ACTIONS]
        p.check(len(xray) == 1, f"{name}: no X-Ray statement under TracingEnabled")
        always = [st for st in role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"] if "Fn::If" not in st]
        p.check(not any(a.startswith("xray:") for st in always for a in _as_list(st["Action"])),
                f"{name}: X-Ray actions granted without EnableTracing")

    # Our own metrics (EMF): every alarm and dashboard line on them names a metric the code
    # emits, under one of the dimension sets it is published with.
    catalogue = metric_catalogue()
    service = service_dimension()
    p.check(len(catalogue) >= 10 and service, f"could not read the metric catalogue of {METRICS_RS}")
    namespace = {"Fn::Sub": "SlackCalls/${AWS::StackName}"}
    p.check(glob.get("Environment", {}).get("Variables", {}).get("METRICS_NAMESPACE") == namespace,
            "METRICS_NAMESPACE must be SlackCalls/${AWS::StackName}")
    ours = [a for a in alarms if a["Namespace"] == namespace]
    for a in ours:
        names = sorted(d["Name"] for d in a.get("Dimensions", []))
        sets = [sorted(s) for s in catalogue.get(a["MetricName"], [])]
        p.check(a["MetricName"] in catalogue, f"alarm on {a['MetricName']}, which the code does not emit")
        p.check(names in sets, f"alarm on {a['MetricName']}: dimensions {names}, published under {sets}")
        p.check(dims(a).get("Service") == json.dumps(service), f"alarm on {a['MetricName']}: Service is not {service}")
    wanted = {"CallsFailed": None, "CallBlockLatency": None, "SlackErrors": "ratelimited"}
    for metric, code in wanted.items():
        p.check(any(a["MetricName"] == metric and (code is None or dims(a).get("Code") == json.dumps(code))
                    for a in ours), f"no alarm on {metric}" + (f" (Code={code})" if code else ""))
    boards = [v["Properties"] for v in res.values() if v["Type"] == "AWS::CloudWatch::Dashboard"]
    p.check(len(boards) == 1, "expected one CloudWatch dashboard")
    for board in boards:
        body, variables = board["DashboardBody"]["Fn::Sub"]
        p.check(variables.get("Namespace") == namespace, "dashboard: Namespace is not the metrics namespace")
        text = re.sub(r"\$\{[^}]+\}", "X", body)
        try:
            widgets = json.loads(text)["widgets"]
        except (ValueError, KeyError) as e:
            widgets = []
            p.check(False, f"dashboard body is not JSON with widgets ({e})")
        # A line names its namespace, or "." for the line above's (always ours here).
        charted = set(re.findall(r'\[(?:"\$\{Namespace\}"|"\.")\s*,\s*"(\w+)"', body))
        charted |= set(re.findall(r'MetricName=\\"(\w+)\\"', body))
        p.check(charted <= set(catalogue), f"dashboard charts metrics the code does not emit: {sorted(charted - set(catalogue))}")
        p.check(set(catalogue) <= charted, f"dashboard misses {sorted(set(catalogue) - charted)}")
        p.check(len(widgets) >= 4 and "JobDeadLetterQueue.QueueName" in body, "dashboard: no dead-letter queue line")

    outputs = t.get("Outputs", {})
    for name, path in (("SlackCommandsUrl", "/slack/commands"), ("SlackEventsUrl", "/slack/events"),
                       ("ProviderEventsUrl", "/provider/events"), ("SlackInstallUrl", "/slack/install"),
                       ("SlackOAuthRedirectUrl", "/slack/oauth_redirect")):
        value = json.dumps(outputs.get(name, {}).get("Value"))
        p.check(value.endswith(f'{path}"}}'), f"output {name} missing or not ending in {path}")
    p.check("SecretArn" in outputs and "CallsTableName" in outputs, "outputs SecretArn / CallsTableName missing")

    p.finish("contract")


# ---------------------------------------------------------------- manifest

# The constraints of Slack's app manifest schema (v1) for the parts we use, as
# documented in the published JSON schema: additionalProperties false everywhere.
_URL = re.compile(r"^https?://")
_DOMAIN = re.compile(r"^(?![.\-])[-a-z0-9.]+[a-z0-9]$")
_SHAPE = {
    "_metadata": {"major_version": int, "minor_version": int},
    "display_information": {"name": str, "description": str, "background_color": str, "long_description": str},
    "features": {"app_home": dict, "bot_user": dict, "shortcuts": list, "slash_commands": list,
                 "unfurl_domains": list, "workflow_steps": list, "assistant_view": dict, "functions": list},
    "oauth_config": {"redirect_urls": list, "scopes": dict, "token_management_enabled": bool, "pkce_enabled": bool},
    "settings": {"allowed_ip_address_ranges": list, "event_subscriptions": dict, "incoming_webhooks": dict,
                 "interactivity": dict, "org_deploy_enabled": bool, "socket_mode_enabled": bool,
                 "is_hosted": bool, "token_rotation_enabled": bool, "siws_links": dict,
                 "function_runtime": str, "hermes_app_type": str, "is_mcp_enabled": bool},
}


def manifest() -> None:
    import yaml

    p = Problems()
    m = yaml.safe_load(MANIFEST.read_text())
    p.check(isinstance(m, dict), "manifest is not a mapping")
    top_allowed = set(_SHAPE) | {"$schema", "app_directory", "functions", "workflows", "datastores",
                                 "outgoing_domains", "types", "external_auth_providers"}
    p.check(set(m) <= top_allowed, f"unknown top-level keys {sorted(set(m) - top_allowed)}")
    for section, fields in _SHAPE.items():
        value = m.get(section, {})
        p.check(isinstance(value, dict), f"{section} is not a mapping")
        for key, val in value.items():
            p.check(key in fields, f"{section}.{key} is not in the schema")
            if key in fields:
                p.check(isinstance(val, fields[key]) and not (fields[key] is int and isinstance(val, bool)),
                        f"{section}.{key} should be {fields[key].__name__}")
    p.check(m.get("_metadata", {}).get("major_version") in (1, 2), "_metadata.major_version must be 1 or 2")

    info = m.get("display_information", {})
    name = info.get("name", "")
    p.check(1 <= len(name) <= 35, "display_information.name: 1-35 characters")
    if "description" in info:
        p.check(1 <= len(info["description"]) <= 140, "display_information.description: 1-140 characters")
    if "long_description" in info:
        p.check(175 <= len(info["long_description"]) <= 4000, "long_description: 175-4000 characters")
    if "background_color" in info:
        p.check(bool(re.match(r"^#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?$", info["background_color"])),
                "background_color: #rgb or #rrggbb")

    features = m.get("features", {})
    bot = features.get("bot_user", {})
    p.check(set(bot) <= {"display_name", "always_online"}, "features.bot_user: unknown keys")
    p.check(1 <= len(bot.get("display_name", "")) <= 80, "features.bot_user.display_name: 1-80 characters")
    commands = features.get("slash_commands", [])
    p.check(1 <= len(commands) <= 50, "features.slash_commands: 1-50 entries")
    for c in commands:
        p.check(set(c) <= {"command", "url", "description", "usage_hint", "should_escape"},
                f"slash command {c.get('command')}: unknown keys {sorted(set(c) - {'command', 'url', 'description', 'usage_hint', 'should_escape'})}")
        p.check(bool(re.match(r"^/", c.get("command", ""))) and 2 <= len(c.get("command", "")) <= 32,
                "slash command: '/name', 2-32 characters")
        p.check(1 <= len(c.get("description", "")) <= 2000, "slash command: description required (1-2000)")
        p.check("url" not in c or (_URL.match(c["url"]) and len(c["url"]) <= 3000), "slash command: url http(s)")
        p.check("usage_hint" not in c or 1 <= len(c["usage_hint"]) <= 1000, "slash command: usage_hint 1-1000")
    domains = features.get("unfurl_domains", [])
    p.check(1 <= len(domains) <= 5 and len(set(domains)) == len(domains), "unfurl_domains: 1-5 unique entries")
    for d in domains:
        p.check(bool(_DOMAIN.match(d)) and len(d) <= 255, f"unfurl domain {d!r}: lower-case host only")

    scopes = m.get("oauth_config", {}).get("scopes", {})
    p.check(set(scopes) <= {"user", "bot", "user_optional", "bot_optional"}, "oauth_config.scopes: unknown keys")
    for kind, values in scopes.items():
        p.check(isinstance(values, list) and all(isinstance(v, str) and len(v) <= 50 for v in values),
                f"oauth_config.scopes.{kind}: list of scope names")

    subs = m.get("settings", {}).get("event_subscriptions", {})
    p.check(set(subs) <= {"request_url", "bot_events", "user_events", "metadata_subscriptions"},
            "settings.event_subscriptions: unknown keys")
    p.check(bool(_URL.match(subs.get("request_url", ""))), "event_subscriptions.request_url: http(s) URL")
    bot_events = subs.get("bot_events", [])
    p.check(len(set(bot_events)) == len(bot_events) <= 100, "bot_events: unique, at most 100")

    # ...and it matches this application.
    p.check([c.get("command") for c in commands] == ["/call"], "the app's one slash command is /call")
    call = commands[0] if commands else {}
    p.check(call.get("url", "").endswith("/slack/commands"), "/call url must end in /slack/commands")
    p.check(call.get("usage_hint") == "[title]", "/call usage_hint should be [title]")
    p.check(subs.get("request_url", "").endswith("/slack/events"), "events request_url must end in /slack/events")
    p.check(set(bot_events) == {"link_shared", "call_rejected", "app_uninstalled", "tokens_revoked"},
            f"bot_events {sorted(bot_events)}")
    p.check(set(scopes.get("bot", [])) == {"calls:write", "commands", "chat:write",
                                           "links:read", "links:write"}, f"bot scopes {scopes.get('bot')}")
    asked = re.search(r"pub const BOT_SCOPES: &\[&str\] = &\[(.*?)\];", INSTALL_FLOW.read_text(), re.S)
    asked = re.findall(r'"([^"]+)"', asked.group(1)) if asked else []
    p.check(sorted(asked) == sorted(scopes.get("bot", [])),
            f"the install link asks for {asked}, the manifest lists {scopes.get('bot')}")
    oauth = m.get("oauth_config", {})
    redirects = oauth.get("redirect_urls", [])
    p.check(len(redirects) >= 1 and all(_URL.match(u) and u.endswith("/slack/oauth_redirect") for u in redirects),
            f"oauth_config.redirect_urls must name the install's /slack/oauth_redirect: {redirects}")
    p.check(m.get("settings", {}).get("org_deploy_enabled") is True,
            "settings.org_deploy_enabled must be true: org-wide installs are supported")
    join_default = load_template()["Parameters"]["JoinUrlTemplate"]["Default"]
    join_host = re.match(r"^https?://([^/:]+)", join_default).group(1).lower()
    p.check(join_host in domains, f"unfurl_domains must include JoinUrlTemplate's host {join_host}")
    p.finish("manifest")


# ---------------------------------------------------------------- artifacts

# provided.al2023 ships glibc 2.34: a binary asking for a newer symbol version fails at
# start-up with "version `GLIBC_2.xx' not found".
AL2023_GLIBC = (2, 34)
EM_AARCH64 = 183


def artifacts(build_dir: Path, zip_dir: Path, max_bytes: int) -> None:
    import zipfile

    p = Problems()
    zip_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for fn, (binary, _) in FUNCTIONS.items():
        bootstrap = build_dir / fn / "bootstrap"
        if not bootstrap.is_file():
            p.check(False, f"{fn}: {bootstrap.relative_to(ROOT)} missing")
            continue
        data = bootstrap.read_bytes()
        p.check(os.access(bootstrap, os.X_OK), f"{fn}: bootstrap is not executable")
        is_elf64_le = data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1
        machine = int.from_bytes(data[18:20], "little") if is_elf64_le else None
        p.check(is_elf64_le and machine == EM_AARCH64, f"{fn}: bootstrap is not a 64-bit arm64 ELF executable")
        glibc = sorted({tuple(int(x) for x in m.split(b".")) for m in re.findall(rb"GLIBC_(\d+\.\d+(?:\.\d+)?)", data)})
        newest = glibc[-1] if glibc else None
        p.check(newest is None or newest[:2] <= AL2023_GLIBC,
                f"{fn}: needs glibc {'.'.join(map(str, newest or ()))}, provided.al2023 has 2.34")
        out = zip_dir / f"{fn}.zip"
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
            info = zipfile.ZipInfo("bootstrap", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o100755 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data, compresslevel=9)
        size = out.stat().st_size
        p.check(size <= max_bytes, f"{fn}: zipped {size:,} bytes, over the {max_bytes:,}-byte budget")
        rows.append((fn, binary, len(data), size, ".".join(map(str, newest)) if newest else "-"))
    if rows:
        print(f"{'function':<20} {'binary':<12} {'bootstrap':>12} {'zipped':>12}  glibc")
        for fn, binary, raw, size, glibc_v in rows:
            flag = "" if size <= max_bytes else "  OVER BUDGET"
            print(f"{fn:<20} {binary:<12} {raw:>12,} {size:>12,}  {glibc_v}{flag}")
        print(f"budget per zip: {max_bytes:,} bytes")
    p.finish("artifacts")


def main() -> None:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    if len(sys.argv) == 3 and sys.argv[1] == "expand":
        expand(Path(sys.argv[2]).resolve())
    elif len(sys.argv) == 3 and sys.argv[1] == "contract":
        contract(Path(sys.argv[2]).resolve())
    elif len(sys.argv) == 2 and sys.argv[1] == "manifest":
        manifest()
    elif len(sys.argv) == 2 and sys.argv[1] == "packages":
        res = load_template()["Resources"]
        for fn in FUNCTIONS:
            code_uri = res[fn]["Properties"]["CodeUri"]
            print(tomllib.loads((ROOT / code_uri / "Cargo.toml").read_text())["package"]["name"])
    elif len(sys.argv) == 5 and sys.argv[1] == "artifacts":
        artifacts(Path(sys.argv[2]).resolve(), Path(sys.argv[3]).resolve(), int(sys.argv[4]))
    else:
        print(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
