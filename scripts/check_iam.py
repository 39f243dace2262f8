"""Checks the AWS calls each function made on the local stack against its policy in template.yaml.

moto does not enforce IAM, so a missing permission passes every local test and breaks in AWS (the
processor once could not queue initial-sync pages). The functions record each call when the stack
sets AWS_ACTION_LOG (shared/src/aws_audit.rs); this script reads those lines and fails when an
action on a resource is not allowed by the calling function's policy statements, or by what SAM
grants for its event sources.

KMS calls are checked against conditions too (issue 22): each function's statements and the
data key's key policy allow a role only the encryption contexts (`kms:EncryptionContext:*`) of
its own fields, so a call is allowed only when both the role's policy and a key-policy statement
naming the role (by `aws:PrincipalArn`) match the context the call carried.

usage: check_iam.py template.yaml actions.jsonl stack.env [--without Function:action ...]
       check_iam.py template.yaml --can Function action context
  --without drops one permission from the template first (to show the check can fail).
  --can asks whether one function may make one KMS call with one sealing context
        (`acct/<account>/<field>`): exit 0 allowed, 1 denied.
Exit 0 when every call is allowed, 1 otherwise (one line per missing permission).
"""
import fnmatch
import json
import sys

import yaml

from create_resources import CfnLoader


def resource_patterns(expr, names):
    """The recorded resource names a policy `Resource` expression covers."""
    if expr == "*":
        return ["*"]
    if isinstance(expr, list):
        return [p for e in expr for p in resource_patterns(e, names)]
    if isinstance(expr, dict) and "Fn::GetAtt" in expr:
        logical = expr["Fn::GetAtt"][0]
        return [names.get(logical, f"<{logical}>")]
    if isinstance(expr, dict) and "Fn::Sub" in expr:
        text = expr["Fn::Sub"]
        for logical, name in names.items():
            text = text.replace("${" + logical + ".Arn}", name)
        return [text]
    if isinstance(expr, dict) and "Ref" in expr:
        return [names.get(expr["Ref"], f"<{expr['Ref']}>")]
    return [str(expr)]


# The names a deployed stack gives what a policy's `!Sub` and conditions refer to.
ACCOUNT, PARTITION, STACK = "123456789012", "aws", "nhanhvn"
CONTEXT_KEY = "nhanhvn:context"


def sub(expr):
    """A `!Sub` of pseudo parameters only (key policies), as in a deployed stack."""
    if isinstance(expr, dict) and "Fn::Sub" in expr:
        expr = expr["Fn::Sub"]
    return (str(expr).replace("${AWS::Partition}", PARTITION).replace("${AWS::AccountId}", ACCOUNT)
            .replace("${AWS::StackName}", STACK))


def role_arn(logical):
    """The ARN CloudFormation gives SAM's role of function `logical`."""
    return f"arn:{PARTITION}:iam::{ACCOUNT}:role/{STACK}-{logical}Role-A1B2C3D4"


def listed(v):
    return [v] if isinstance(v, (str, dict)) else list(v or [])


def condition_holds(condition, facts):
    """Whether a statement's `Condition` holds for `facts` (condition key → request value); a key
    the request lacks fails its condition, as in IAM."""
    for operator, tests in (condition or {}).items():
        for key, wanted in tests.items():
            value = facts.get(key.lower())
            patterns = [sub(w) for w in listed(wanted)]
            if value is None:
                return False
            if operator in ("StringLike", "ArnLike"):
                ok = any(fnmatch.fnmatchcase(value, p) for p in patterns)
            elif operator in ("StringEquals", "ArnEquals"):
                ok = value in patterns
            else:
                return False  # an operator this check does not know: refuse rather than guess
            if not ok:
                return False
    return True


def request_facts(logical, context):
    """The condition keys of one call: the caller's role and the KMS encryption context."""
    facts = {"aws:principalarn": role_arn(logical)}
    for k, v in (context or {}).items():
        facts[f"kms:encryptioncontext:{k}".lower()] = v
    return facts


def function_grants(props, names):
    """(action pattern, resource pattern, condition) of one function: its statements and its SQS event."""
    grants = []
    for policy in props.get("Policies", []):
        for st in policy.get("Statement", []) if isinstance(policy, dict) else []:
            if st.get("Effect") != "Allow":
                continue
            for action in listed(st.get("Action", [])):
                for res in resource_patterns(st.get("Resource", "*"), names):
                    grants.append((action, res, st.get("Condition")))
    for event in props.get("Events", {}).values():
        if event.get("Type") == "SQS":
            # SAM's SQSPollerPolicy for the event source mapping.
            for res in resource_patterns(event["Properties"]["Queue"], names):
                for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"):
                    grants.append((action, res, None))
    return grants


def key_policy_grants(template):
    """(action pattern, condition) of the data key's key policy statements for this account."""
    key = template["Resources"].get("DataKey", {}).get("Properties", {}).get("KeyPolicy", {})
    out = []
    for st in key.get("Statement", []):
        if st.get("Effect") == "Allow":
            out.extend((a, st.get("Condition")) for a in listed(st.get("Action", [])))
    return out


def allowed(grants, action, resources, facts=None):
    facts = facts or {}

    def grant_ok(a, r, cond, resource):
        return (fnmatch.fnmatchcase(action, a) and (resource is None or r == "*" or fnmatch.fnmatchcase(resource, r))
                and condition_holds(cond, facts))
    if not resources:
        return any(grant_ok(a, r, c, None) for a, r, c in grants)
    return all(any(grant_ok(a, r, c, res) for a, r, c in grants) for res in resources)


def key_policy_allows(key_grants, action, facts):
    """Whether a key-policy statement allows `action` for these facts. The administrators'
    statement (no condition) lets the account manage the key; using it needs a conditioned one."""
    return any(fnmatch.fnmatchcase(action, a) and cond and condition_holds(cond, facts) for a, cond in key_grants)


def can(template, function, action, context):
    """`--can`: whether `function` may call `action` with the sealing context `context`."""
    logical = next((k for k, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"
                    and function in (k, r.get("Metadata", {}).get("BuildProperties", {}).get("Binary"))), None)
    if logical is None:
        print(f"iam: {function} is not a function of the template")
        return 2
    names = {"DataKey": "key/probe"}
    grants = function_grants(template["Resources"][logical]["Properties"], names)
    facts = request_facts(logical, {CONTEXT_KEY: context})
    by_role = allowed(grants, action, ["key/probe"], facts)
    by_key = key_policy_allows(key_policy_grants(template), action, facts)
    verdict = "allowed" if by_role and by_key else "denied"
    print(f"iam: {logical} {action} with context {context}: {verdict} "
          f"(role policy {'allows' if by_role else 'denies'}, key policy {'allows' if by_key else 'denies'})")
    return 0 if verdict == "allowed" else 1


def main(argv):
    if "--can" in argv:
        with open(argv[0]) as f:
            template = yaml.load(f, Loader=CfnLoader)
        i = argv.index("--can")
        return can(template, *argv[i + 1:i + 4])
    template_path, log_path, env_path = argv[:3]
    without = [argv[i + 1] for i, a in enumerate(argv) if a == "--without" and i + 1 < len(argv)]
    with open(template_path) as f:
        template = yaml.load(f, Loader=CfnLoader)
    env = dict(line.strip().split("=", 1) for line in open(env_path) if "=" in line)
    names = {
        "ConnectorTable": f"table/{env['TABLE_NAME']}",
        "WorkQueue": f"queue/{env['QUEUE_URL'].rsplit('/', 1)[-1]}",
        "DeadLetterQueue": f"queue/{env.get('DLQ_URL', '').rsplit('/', 1)[-1]}",
        "DataKey": f"key/{env.get('KMS_KEY_ID', '')}",
    }
    for logical in ("HubServiceTokenSecret", "HubWebhookSigningSecret", "CookieSigningKeySecret", "StatusApiTokenSecret"):
        names[logical] = f"secret/{env.get(logical, '<' + logical + '>')}"
    functions = {}
    for logical, res in template["Resources"].items():
        if res["Type"] != "AWS::Serverless::Function":
            continue
        binary = res.get("Metadata", {}).get("BuildProperties", {}).get("Binary", logical)
        grants = function_grants(res["Properties"], names)
        for item in without:
            fn, action = item.split(":", 1)
            if fn in (logical, binary):
                grants = [g for g in grants if g[0] != action]
        functions[binary] = (logical, grants)
    key_grants = key_policy_grants(template)
    seen, problems = set(), []

    for line in open(log_path):
        rec = json.loads(line)
        needed = tuple(rec.get("iam") or [rec["action"]])
        context = rec.get("encryption_context") or {}
        key = (rec["function"], rec["action"], needed, tuple(rec["resources"]), json.dumps(context, sort_keys=True))
        if key in seen:
            continue
        seen.add(key)
        if rec["function"] not in functions:
            problems.append(f"{rec['function']}: not a function of the template, yet it called {rec['action']}")
            continue
        logical, grants = functions[rec["function"]]
        facts = request_facts(logical, context)
        # Contexts differ per account: one line per function, action and field.
        shown = {k: "acct/*/" + v.rsplit("/", 1)[-1] if v.startswith("acct/") else v for k, v in context.items()}
        for action in needed:
            what = f"{logical} ({rec['function']}): {action} (for {rec['action']}) on {', '.join(rec['resources']) or '*'}"
            if context or action.startswith("kms:"):
                what += f" with context {json.dumps(shown, sort_keys=True)}"
            if not allowed(grants, action, rec["resources"], facts):
                problems.append(f"{what} is not allowed by its policy in {template_path}")
            elif action.startswith("kms:") and not key_policy_allows(key_grants, action, facts):
                problems.append(f"{what} is not allowed by the data key's key policy in {template_path}")
    calls = {}
    for fn, action, _, _, _ in seen:
        calls.setdefault(fn, set()).add(action)
    for fn in sorted(calls):
        print(f"iam: {fn}: {' '.join(sorted(calls[fn]))}")
    for p in sorted(set(problems)):
        print(f"iam: MISSING {p}")
    if not seen:
        print("iam: no AWS call was recorded (is AWS_ACTION_LOG set for the functions?)")
        return 1
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
