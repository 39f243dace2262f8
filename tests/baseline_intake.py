"""Baseline for `make measure` (issue 14): a plain Python handler doing the intake's work for one
Nhanh webhook on the same moto, with boto3 — parse the body, fetch the route, compare the verify
token in constant time, send the facts to the FIFO queue. Not a product: a yardstick.

Usage: baseline_intake.py ENDPOINT TABLE N OUT_JSON (it sends to a FIFO queue of its own)
Prints and writes {"webhooks", "per_webhook_us", "calls_per_webhook"}.
"""
import hashlib
import hmac
import json
import sys
import time

import boto3


def main(endpoint, table, n, out):
    session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
    dynamodb = session.client("dynamodb", endpoint_url=endpoint)
    sqs = session.client("sqs", endpoint_url=endpoint)
    route = {"PK": {"S": "APP#990001#BIZ#990001"}, "SK": {"S": "ROUTE"}, "account_id": {"S": "baseline"},
             "state": {"S": "active"}, "verify_token": {"S": "baseline-verify-token"}}
    dynamodb.put_item(TableName=table, Item=route)
    queue_url = sqs.create_queue(QueueName="measure-baseline.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    calls = 0

    def handle(body: bytes, authorization: str):
        nonlocal calls
        event = json.loads(body)
        business = event["businessId"]
        item = dynamodb.get_item(TableName=table, Key={"PK": {"S": f"APP#990001#BIZ#{business}"}, "SK": {"S": "ROUTE"}},
                                 ConsistentRead=True).get("Item")
        calls += 1
        if item is None or not hmac.compare_digest(item["verify_token"]["S"].encode(), authorization.encode()):
            return 401
        order_id = event["data"]["info"]["id"]
        facts = {"kind": "nhanh_change", "account_id": item["account_id"]["S"], "event": event["event"], "record_id": order_id}
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(facts),
                         MessageGroupId=f"baseline:order:{order_id}",
                         MessageDeduplicationId=hashlib.sha256(body + b"#" + str(order_id).encode()).hexdigest())
        calls += 1
        return 200

    def body(i):
        return json.dumps({"event": "orderUpdate", "businessId": 990001, "data": {"info": {"id": 98_000 + i, "status": 54}}}).encode()

    assert handle(body(0), "baseline-verify-token") == 200  # connections warm, as a warm Lambda's
    calls = 0
    started = time.perf_counter()
    for i in range(1, n + 1):
        assert handle(body(i), "baseline-verify-token") == 200
    per_us = (time.perf_counter() - started) * 1e6 / n
    result = {"webhooks": n, "per_webhook_us": per_us, "calls_per_webhook": calls / n}
    print("baseline:", json.dumps(result))
    with open(out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4])
