"""Local cold start of each function's release binary, without the network.

Each binary is started against a stand-in of the Lambda Runtime API on loopback (which also answers
the few AWS calls a first request needs, with empty results, and the Secrets Manager reads of the
function's own secrets at start, so no real network is involved). Two
times are taken from the process start: `init` (the runtime asks for its first event) and `first
answer` (it posts the response to that event). Median of RUNS starts per function.

usage: coldstart.py BIN_DIR [RUNS]   (BIN_DIR holds connect, intake, processor, reconcile)
"""
import http.server
import json
import os
import socketserver
import statistics
import subprocess
import sys
import threading
import time

EVENTS = {
    # The status JSON without credentials: 401, no AWS call.
    "connect": {"version": "2.0", "routeKey": "$default", "rawPath": "/nhanhvn/connections/385", "rawQueryString": "",
                "headers": {"host": "x"}, "requestContext": {"http": {"method": "GET", "path": "/nhanhvn/connections/385",
                "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "x"}, "requestId": "r", "routeKey": "$default",
                "stage": "$default", "timeEpoch": 0, "domainName": "x", "accountId": "1", "apiId": "a"}, "isBase64Encoded": False},
    # A webhook whose body is not JSON: 400, no AWS call.
    "intake": {"version": "2.0", "routeKey": "$default", "rawPath": "/nhanhvn/hook/1001", "rawQueryString": "",
               "headers": {"host": "x", "content-type": "application/json"}, "body": "not json",
               "requestContext": {"http": {"method": "POST", "path": "/nhanhvn/hook/1001", "protocol": "HTTP/1.1",
               "sourceIp": "127.0.0.1", "userAgent": "x"}, "requestId": "r", "routeKey": "$default", "stage": "$default",
               "timeEpoch": 0, "domainName": "x", "accountId": "1", "apiId": "a"}, "isBase64Encoded": False},
    # An empty SQS batch.
    "processor": {"Records": []},
    # A tick: one DynamoDB Query (answered empty by the stand-in).
    "reconcile": {"source": "aws.scheduler"},
}


# The secrets each function reads from Secrets Manager at start, by id (their values differ, as
# the connect function requires of its own).
SECRETS = {"arn:hub-token": "h" * 40, "arn:hub-webhook": "w" * 40, "arn:cookie": "c" * 40, "arn:status": "s" * 40}


class Runtime(http.server.BaseHTTPRequestHandler):
    # Keep-alive as the real Runtime API: the runtime reuses its connection.
    protocol_version = "HTTP/1.1"
    event = b"{}"
    answered = None
    asked = None

    def log_message(self, *args):
        pass

    def _send(self, status, body, headers=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path.endswith("/invocation/next"):
            if Runtime.asked is None:
                Runtime.asked = time.perf_counter()
                self._send(200, Runtime.event, {"Lambda-Runtime-Aws-Request-Id": "req-1",
                           "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 30000),
                           "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:1:function:f"})
            else:
                # The measured process is killed meanwhile; no answer is owed.
                self.close_connection = True
        else:
            self._send(404, b"")

    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length)
        if "/invocation/" in self.path:
            Runtime.answered = time.perf_counter()
            self._send(202, b"{}")
        elif self.headers.get("x-amz-target", "").startswith("secretsmanager."):
            # A secret read at start (issue 22): the value named after the secret's id.
            secret_id = json.loads(body or b"{}").get("SecretId", "")
            if json.loads(body or b"{}").get("VersionStage") == "AWSPREVIOUS":
                self._send(400, json.dumps({"__type": "ResourceNotFoundException", "message": "no such version"}).encode(),
                           {"content-type": "application/x-amz-json-1.1"})
            else:
                value = SECRETS.get(secret_id, "v" * 40)
                self._send(200, json.dumps({"ARN": secret_id, "Name": secret_id, "SecretString": value}).encode(),
                           {"content-type": "application/x-amz-json-1.1"})
        else:  # an AWS JSON call (DynamoDB Query of the reconcile tick): an empty answer
            self._send(200, json.dumps({"Items": [], "Count": 0, "ScannedCount": 0}).encode(), {"content-type": "application/x-amz-json-1.0"})


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # the measured process is killed mid-connection on purpose


def once(binary, name):
    """One cold start against a fresh stand-in (so no connection of an earlier run interferes)."""
    Runtime.event = json.dumps(EVENTS[name]).encode()
    Runtime.asked = Runtime.answered = None
    server = Server(("127.0.0.1", 0), Runtime)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    env = {"PATH": os.environ.get("PATH", ""), "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
           "AWS_LAMBDA_FUNCTION_NAME": name, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256", "AWS_LAMBDA_FUNCTION_VERSION": "1",
           "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "TABLE_NAME": "t", "QUEUE_URL": f"http://127.0.0.1:{port}/1/q.fifo",
           "PUBLIC_BASE_URL": "https://c.example", "HUB_API_URL": "https://hub.example",
           "HUB_SERVICE_TOKEN_SECRET_ID": "arn:hub-token", "HUB_WEBHOOK_SECRET_SECRET_ID": "arn:hub-webhook",
           "KMS_KEY_ID": "k", "RUST_LOG": "warn",
           "COOKIE_SIGNING_KEY_SECRET_ID": "arn:cookie", "STATUS_API_TOKEN_SECRET_ID": "arn:status"}
    start = time.perf_counter()
    p = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = start + 10
    while Runtime.answered is None and time.perf_counter() < deadline and p.poll() is None:
        time.sleep(0.0005)
    p.kill()
    _, err = p.communicate()
    server.shutdown()
    server.server_close()
    if Runtime.answered is None:
        raise SystemExit(f"{name}: no answer; stderr: {err.decode(errors='replace')[-500:]}")
    return (Runtime.asked - start) * 1000, (Runtime.answered - start) * 1000


def main(bin_dir, runs=7):
    print(f"{'function':<10} {'init ms':>8} {'first answer ms':>16}  (median of {runs}, local, no network)")
    for name in EVENTS:
        samples = [once(os.path.join(bin_dir, name), name) for _ in range(runs)]
        init = statistics.median(s[0] for s in samples)
        answer = statistics.median(s[1] for s in samples)
        print(f"{name:<10} {init:>8.1f} {answer:>16.1f}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 7)
