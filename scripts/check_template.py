"""What an operator needs on day one, checked in template.yaml (issue 24):

- every function has an errors alarm and writes JSON logs to a log group of its own with a
  retention (a parameter, not "never expire");
- the dead-letter alarms (records given up, undecodable messages) and the queue-age alarm exist;
- every alarm notifies the alarm topic and names its runbook section, which exists in
  docs/operations.md;
- the table has point-in-time recovery, deletion protection and is retained; the key is retained.

`--self-test` proves the check can fail: each mutation of the template below must be refused.

Usage: check_template.py TEMPLATE [RUNBOOK] [--self-test]
"""

import copy
import re
import sys

import yaml


class CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation's short tags (`!Ref X` → {"Ref": "X"}, `!GetAtt A.B` → {"Fn::GetAtt": ...})."""


def _tag(loader, suffix, node):
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


CfnLoader.add_multi_constructor("!", _tag)


def problems(template, runbook_text):
    """Every way `template` falls short, as sentences (none: it passes)."""
    out = []
    res = template.get("Resources", {})
    of_type = lambda t: {k: v for k, v in res.items() if v.get("Type") == t}
    functions = of_type("AWS::Serverless::Function")
    alarms = of_type("AWS::CloudWatch::Alarm")
    anchors = set(re.findall(r'<a id="([a-z0-9-]+)"', runbook_text)) | {
        re.sub(r"[^a-z0-9 -]", "", h.strip().lower()).replace(" ", "-")
        for h in re.findall(r"^#+ (.*)$", runbook_text, re.M)
    }

    def alarm_on(namespace, metric, dim_value=None):
        for a in alarms.values():
            p = a.get("Properties", {})
            if p.get("Namespace") != namespace or p.get("MetricName") != metric:
                continue
            dims = [d.get("Value") for d in p.get("Dimensions", [])]
            if dim_value is None or dim_value in dims:
                return True
        return False

    if not functions:
        out.append("no function found")
    for name, fn in functions.items():
        props = fn.get("Properties", {})
        if not alarm_on("AWS/Lambda", "Errors", {"Ref": name}):
            out.append(f"{name} has no errors alarm")
        logging = props.get("LoggingConfig", {})
        if logging.get("LogFormat") != "JSON":
            out.append(f"{name} does not log in the JSON format (LoggingConfig.LogFormat)")
        group = logging.get("LogGroup", {})
        group_name = group.get("Ref") if isinstance(group, dict) else None
        log_group = res.get(group_name or "", {})
        if log_group.get("Type") != "AWS::Logs::LogGroup":
            out.append(f"{name} has no log group of its own (LoggingConfig.LogGroup)")
        elif "RetentionInDays" not in log_group.get("Properties", {}):
            out.append(f"{name}'s log group keeps logs forever (no RetentionInDays)")
    if not alarm_on("NhanhvnConnector", "RecordsGivenUp"):
        out.append("no alarm on records given up (dead letters)")
    if not alarm_on("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"Fn::GetAtt": ["DeadLetterQueue", "QueueName"]}):
        out.append("no alarm on the SQS dead-letter queue")
    if not alarm_on("AWS/SQS", "ApproximateAgeOfOldestMessage", {"Fn::GetAtt": ["WorkQueue", "QueueName"]}):
        out.append("no alarm on the age of the work queue's oldest message")
    for name, alarm in alarms.items():
        p = alarm.get("Properties", {})
        if {"Ref": "AlarmTopic"} not in p.get("AlarmActions", []):
            out.append(f"{name} notifies no one (AlarmActions lacks the alarm topic)")
        section = re.search(r"docs/operations\.md#([a-z0-9-]+)", p.get("AlarmDescription", ""))
        if not section:
            out.append(f"{name}'s description names no runbook section")
        elif section.group(1) not in anchors:
            out.append(f"{name}'s runbook section #{section.group(1)} is not in docs/operations.md")
    tables = of_type("AWS::DynamoDB::Table")
    if not tables:
        out.append("no table found")
    for name, table in tables.items():
        p = table.get("Properties", {})
        if table.get("DeletionPolicy") != "Retain" or table.get("UpdateReplacePolicy") != "Retain":
            out.append(f"{name} is not retained (DeletionPolicy and UpdateReplacePolicy: Retain)")
        if p.get("DeletionProtectionEnabled") is not True:
            out.append(f"{name} has no deletion protection")
        if not p.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled"):
            out.append(f"{name} has no point-in-time recovery")
    for name, key in of_type("AWS::KMS::Key").items():
        if key.get("DeletionPolicy") != "Retain" or key.get("UpdateReplacePolicy") != "Retain":
            out.append(f"{name} is not retained (DeletionPolicy and UpdateReplacePolicy: Retain)")
    return out


def mutations(template):
    """Broken copies of a good template, each of which the check must refuse."""

    def mutate(change):
        t = copy.deepcopy(template)
        change(t["Resources"])
        return t

    first_fn = next(k for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function")
    errors_alarm = next(
        k
        for k, v in template["Resources"].items()
        if v["Type"] == "AWS::CloudWatch::Alarm"
        and v["Properties"].get("MetricName") == "Errors"
        and {"Ref": first_fn} in [d.get("Value") for d in v["Properties"].get("Dimensions", [])]
    )
    table = next(k for k, v in template["Resources"].items() if v["Type"] == "AWS::DynamoDB::Table")
    key = next(k for k, v in template["Resources"].items() if v["Type"] == "AWS::KMS::Key")
    group = template["Resources"][first_fn]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    return {
        "a function without its errors alarm": mutate(lambda r: r.pop(errors_alarm)),
        "a log group without retention": mutate(lambda r: r[group]["Properties"].pop("RetentionInDays")),
        "a function without LoggingConfig": mutate(lambda r: r[first_fn]["Properties"].pop("LoggingConfig")),
        "the table not retained": mutate(lambda r: r[table].pop("DeletionPolicy")),
        "the table without deletion protection": mutate(lambda r: r[table]["Properties"].pop("DeletionProtectionEnabled")),
        "the key not retained": mutate(lambda r: r[key].pop("UpdateReplacePolicy")),
        "no queue-age alarm": mutate(lambda r: r.pop("QueueAgeAlarm")),
        "no dead-letter alarm": mutate(lambda r: r.pop("DeadLettersAlarm")),
    }


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    template_path = args[0] if args else "template.yaml"
    runbook_path = args[1] if len(args) > 1 else "docs/operations.md"
    with open(template_path) as f:
        template = yaml.load(f, Loader=CfnLoader)
    try:
        with open(runbook_path) as f:
            runbook = f.read()
    except FileNotFoundError:
        print(f"check_template: {runbook_path} does not exist (the runbook)")
        return 1
    found = problems(template, runbook)
    for p in found:
        print(f"check_template: {p}")
    if found:
        return 1
    if "--self-test" in argv:
        for what, broken in mutations(template).items():
            if not problems(broken, runbook):
                print(f"check_template: the check let through {what}")
                return 1
        print(f"check_template: the check refuses each of {len(mutations(template))} broken templates")
    print("check_template: every function has an errors alarm and a JSON log group with retention; "
          "the dead-letter and queue-age alarms exist; the table and key are retained")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
