"""Creates the template's DynamoDB tables, SQS queues and KMS key in moto through CloudFormation,
so the local stack and AWS share one definition, and its Secrets Manager secrets through the API
(moto's CloudFormation skips that type). Extra `Name=value` arguments override template
parameters (the local stack shortens the queue's visibility timeout and gives the secrets'
values). Prints `NAME=value` lines for each resource (a secret's value is its ARN)."""
import json
import sys

import boto3
import yaml


class CfnLoader(yaml.SafeLoader):
    pass


def _tag(name):
    def construct(loader, node):
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
            if name == "Fn::GetAtt":
                value = value.split(".", 1)
            return {name: value}
        if isinstance(node, yaml.SequenceNode):
            return {name: loader.construct_sequence(node, deep=True)}
        return {name: loader.construct_mapping(node, deep=True)}
    return construct


for short, full in [("Ref", "Ref"), ("GetAtt", "Fn::GetAtt"), ("Sub", "Fn::Sub"), ("If", "Fn::If"),
                    ("Join", "Fn::Join"), ("Select", "Fn::Select"), ("Equals", "Fn::Equals"), ("Not", "Fn::Not")]:
    CfnLoader.add_constructor("!" + short, _tag(full))

KEEP = {"AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::KMS::Key"}


def main(template_path, endpoint, stack, overrides):
    with open(template_path) as f:
        template = yaml.load(f, Loader=CfnLoader)
    resources = {k: v for k, v in template["Resources"].items() if v["Type"] in KEEP}
    text = json.dumps(resources)
    params = {k: v for k, v in template.get("Parameters", {}).items() if json.dumps({"Ref": k}) in text}
    outputs = {k: {"Value": {"Ref": k}} for k in resources}
    body = {"AWSTemplateFormatVersion": "2010-09-09", "Parameters": params, "Resources": resources, "Outputs": outputs}
    values = [{"ParameterKey": k, "ParameterValue": v} for k, v in overrides.items() if k in params]
    cfn = boto3.client("cloudformation", endpoint_url=endpoint, region_name="us-east-1")
    existing = [s["StackName"] for s in cfn.list_stacks()["StackSummaries"] if s["StackStatus"] != "DELETE_COMPLETE"]
    if stack not in existing:
        cfn.create_stack(StackName=stack, TemplateBody=json.dumps(body), Parameters=values)
    out = cfn.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    for o in out:
        print(f"{o['OutputKey']}={o['OutputValue']}")
    create_secrets(template, endpoint, stack, overrides)


def create_secrets(template, endpoint, stack, overrides):
    """Each `AWS::SecretsManager::Secret` whose `SecretString` is a parameter, with that
    parameter's value (an override, else its default); prints `Logical=arn`."""
    sm = boto3.client("secretsmanager", endpoint_url=endpoint, region_name="us-east-1")
    for logical, res in template["Resources"].items():
        if res["Type"] != "AWS::SecretsManager::Secret":
            continue
        param = res["Properties"]["SecretString"]["Ref"]
        value = overrides.get(param, template["Parameters"].get(param, {}).get("Default"))
        if not value:
            raise SystemExit(f"create_resources: no value for the secret {logical} (parameter {param})")
        name = f"{stack}-{logical}"
        try:
            arn = sm.create_secret(Name=name, SecretString=value)["ARN"]
        except sm.exceptions.ResourceExistsException:
            arn = sm.describe_secret(SecretId=name)["ARN"]
        print(f"{logical}={arn}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], dict(a.split("=", 1) for a in sys.argv[4:]))
