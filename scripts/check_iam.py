"""Checks the AWS calls each function made on the local stack against its policy in template.yaml.

moto does not enforce IAM, so a missing permission passes every local test and breaks in AWS (the
processor once could not queue initial-sync pages). The functions record each call when the stack
sets AWS_ACTION_LOG (shared/src/aws_audit.rs); this script reads those lines and fails when an
action on a resource is not allowed by the calling function's policy statements, or by what SAM
grants for its event sources.

usage: check_iam.py template.yaml actions.jsonl stack.env [--without Function:action ...]
  --without drops one permission from the template first (to show the check can fail).
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


def function_grants(props, names):
    """(action pattern, resource pattern) pairs of one function: its statements and its SQS event."""
    grants = []
    for policy in props.get("Policies", []):
        for st in policy.get("Statement", []) if isinstance(policy, dict) else []:
            if st.get("Effect") != "Allow":
                continue
            actions = st.get("Action", [])
            actions = [actions] if isinstance(actions, str) else actions
            for action in actions:
                for res in resource_patterns(st.get("Resource", "*"), names):
                    grants.append((action, res))
    for event in props.get("Events", {}).values():
        if event.get("Type") == "SQS":
            # SAM's SQSPollerPolicy for the event source mapping.
            for res in resource_patterns(event["Properties"]["Queue"], names):
                for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"):
                    grants.append((action, res))
    return grants


def allowed(grants, action, resources):
    def one(resource):
        return any(fnmatch.fnmatchcase(action, a) and (r == "*" or fnmatch.fnmatchcase(resource, r)) for a, r in grants)
    return all(one(r) for r in resources) if resources else any(fnmatch.fnmatchcase(action, a) for a, _ in grants)


def main(argv):
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
    seen, problems = set(), []

    for line in open(log_path):
        rec = json.loads(line)
        needed = tuple(rec.get("iam") or [rec["action"]])
        key = (rec["function"], rec["action"], needed, tuple(rec["resources"]))
        if key in seen:
            continue
        seen.add(key)
        if rec["function"] not in functions:
            problems.append(f"{rec['function']}: not a function of the template, yet it called {rec['action']}")
            continue
        logical, grants = functions[rec["function"]]
        for action in needed:
            if not allowed(grants, action, rec["resources"]):
                problems.append(f"{logical} ({rec['function']}): {action} (for {rec['action']}) on "
                                f"{', '.join(rec['resources']) or '*'} is not allowed by its policy in {template_path}")
    calls = {}
    for fn, action, _, _ in seen:
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
