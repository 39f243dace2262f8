"""The local stack's start and stop, seen from outside (issue 9):

1. a port already held by another program stops `scripts/stack.sh` at once with one line naming
   the port and the variable that moves it (no traceback, no reuse of what listens there);
2. a stop by SIGTERM to the process group, by SIGHUP and by SIGINT (Ctrl-C) ends every process the
   stack started, moto included, and frees every port within a few seconds;
3. (issue 21) the same holds for a stack that is busy when `make run`'s process group gets
   SIGTERM: requests in flight, the bridge mid-poll, functions mid-invocation; BUSY_STOPS times
   (default 10), each on a fresh `make run`.

Run by `make test` (scripts/test.sh) on ports of its own; prints what it checked.
"""
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE = int(os.environ.get("LIFECYCLE_BASE_PORT", "9500"))
PORTS = {"PORT": BASE, "MOTO_PORT": BASE + 1, "NHANH_SIM_PORT": BASE + 2, "HUB_SIM_PORT": BASE + 3, "BRIDGE_PORT": BASE + 4}
STOP_LIMIT_SECS = 8


def env():
    e = {k: v for k, v in os.environ.items() if k not in ("NHANH_API_URL", "NHANH_OAUTH_URL", "HUB_API_URL", "PUBLIC_BASE_URL", "AWS_ACTION_LOG")}
    e.update({k: str(v) for k, v in PORTS.items()})
    e["STACK_DIR"] = os.path.join(ROOT, ".stack", "lifecycle")
    return e


def default_signals():
    # A test runner may start us with SIGINT ignored (a background job); the stack must see Ctrl-C.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def port_taken(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
        return False
    except OSError:
        return True
    finally:
        s.close()


def descendants(pid):
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
        except (OSError, IndexError, ValueError):
            pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in children.get(p, []):
            out.append(c)
            todo.append(c)
    return out


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def check_taken_port():
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("127.0.0.1", PORTS["MOTO_PORT"]))
    holder.listen()
    try:
        started = time.time()
        p = subprocess.run([os.path.join(ROOT, "scripts", "stack.sh")], env=env(), capture_output=True, text=True,
                           timeout=300, preexec_fn=default_signals)
        took = time.time() - started
    finally:
        holder.close()
    out = p.stdout + p.stderr
    assert p.returncode != 0, f"the stack started although MOTO_PORT was taken:\n{out}"
    assert f"port {PORTS['MOTO_PORT']}" in out and "MOTO_PORT" in out, f"the port and its variable are not named:\n{out}"
    assert "Traceback" not in out, out
    assert not port_taken(PORTS["PORT"]), "something was left listening"
    print(f"lifecycle: a taken MOTO_PORT stops the start in {took:.1f} s: {p.stderr.strip().splitlines()[-1]}")


def check_stop(sig, to_group):
    p = subprocess.Popen([os.path.join(ROOT, "scripts", "stack.sh")], env=env(), stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, start_new_session=True, preexec_fn=default_signals)
    lines = []
    deadline = time.time() + 600
    for line in p.stdout:
        lines.append(line)
        if "ready" in line:
            break
        if time.time() > deadline:
            break
    assert any("ready" in l for l in lines), "the stack did not start:\n" + "".join(lines)
    procs = descendants(p.pid)
    assert len(procs) >= 5, f"expected moto, two simulators, the functions and the bridge, found {procs}"
    if to_group:
        os.killpg(p.pid, sig)
    else:
        p.send_signal(sig)
    started = time.time()
    leftovers, taken = procs, list(PORTS)
    while time.time() - started < STOP_LIMIT_SECS:
        leftovers = [q for q in procs if alive(q)]
        taken = [name for name, port in PORTS.items() if port_taken(port)]
        if not leftovers and not taken and p.poll() is not None:
            break
        time.sleep(0.1)
    took = time.time() - started
    rest = p.stdout.read() if p.poll() is not None else ""
    for q in leftovers:
        try:
            os.kill(q, signal.SIGKILL)
        except OSError:
            pass
    how = f"{signal.Signals(sig).name} to the {'process group' if to_group else 'script'}"
    assert not leftovers, f"{how}: still running after {STOP_LIMIT_SECS} s: " + ", ".join(
        f"{q} {open(f'/proc/{q}/cmdline').read().replace(chr(0), ' ')[:80]}" for q in leftovers if alive(q))
    assert not taken, f"{how}: ports still taken after {STOP_LIMIT_SECS} s: {taken}"
    assert p.poll() is not None, f"{how}: the stack script did not exit"
    print(f"lifecycle: {how} stopped {len(procs)} processes and freed {len(PORTS)} ports in {took:.1f} s{rest and ''}")


def load(stop):
    """Keeps requests in flight until `stop` is set: webhooks and status reads to the connector,
    processor invocations (each a batch against moto), Nhanh simulator reads."""
    port = PORTS["PORT"]
    batch = open(os.path.join(ROOT, "events", "processor-sqs-batch.json"), "rb").read()
    targets = [
        (f"http://127.0.0.1:{port}/nhanhvn/hook/1001", b'{"event":"orderAdd","businessId":20001,"data":{"orderId":1}}'),
        (f"http://127.0.0.1:{port}/nhanhvn/connections/385", None),
        (f"http://127.0.0.1:{port}/2015-03-31/functions/processor/invocations", batch),
        (f"http://127.0.0.1:{PORTS['NHANH_SIM_PORT']}/_sim/calls", None),
    ]

    def worker(url, body):
        while not stop.is_set():
            try:
                urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=5).read()
            except Exception:
                pass

    threads = [threading.Thread(target=worker, args=t, daemon=True) for t in targets for _ in range(3)]
    for t in threads:
        t.start()
    return threads


def check_busy_stop(round_no):
    started = time.time()
    p = subprocess.Popen(["make", "-s", "run"], cwd=ROOT, env=env(), stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, start_new_session=True, preexec_fn=default_signals)
    lines = []
    for line in p.stdout:
        lines.append(line)
        if "ready" in line or time.time() - started > 600:
            break
    assert any("ready" in l for l in lines), "the stack did not start:\n" + "".join(lines)
    ready = time.time() - started
    before = activity()
    stop = threading.Event()
    threads = load(stop)
    # Busy: requests of each kind have been answered under load (a positive signal, read from the
    # functions' log), and more are in flight when the signal goes.
    deadline = time.time() + 60
    while time.time() < deadline and not busy_since(before):
        time.sleep(0.2)
    procs = descendants(p.pid)
    os.killpg(p.pid, signal.SIGTERM)
    signalled = time.time()
    leftovers, taken = procs, list(PORTS)
    while time.time() - signalled < STOP_LIMIT_SECS:
        leftovers = [q for q in procs if alive(q)]
        taken = [name for name, port in PORTS.items() if port_taken(port)]
        if not leftovers and not taken:
            break
        time.sleep(0.1)
    took = time.time() - signalled
    stop.set()
    names = {q: cmdline(q) for q in leftovers}
    for q in leftovers:
        try:
            os.kill(q, signal.SIGKILL)
        except OSError:
            pass
    for t in threads:
        t.join(timeout=10)
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
    how = f"busy stop {round_no}: SIGTERM to `make run`'s process group"
    assert not leftovers, f"{how}: still running after {STOP_LIMIT_SECS} s: {names}"
    assert not taken, f"{how}: ports still taken after {STOP_LIMIT_SECS} s: {taken}"
    print(f"lifecycle: {how} stopped {len(procs)} processes and freed {len(PORTS)} ports in {took:.1f} s "
          f"(ready in {ready:.0f} s)")


def activity():
    """(webhooks answered, work items applied) so far, read from the functions' log."""
    try:
        with open(os.path.join(ROOT, ".stack", "lifecycle", "logs", "functions.log"), errors="replace") as f:
            text = f.read()
    except OSError:
        return (0, 0)
    return (text.count("webhook refused"), text.count("work item applied"))


def busy_since(before):
    """At least three webhooks and three processor batches answered under the load."""
    now = activity()
    return now[0] - before[0] >= 3 and now[1] - before[1] >= 3


def cmdline(q):
    try:
        return open(f"/proc/{q}/cmdline").read().replace(chr(0), " ")[:80]
    except OSError:
        return "?"


def main():
    check_taken_port()
    check_stop(signal.SIGTERM, to_group=True)
    check_stop(signal.SIGHUP, to_group=False)
    check_stop(signal.SIGINT, to_group=False)
    for i in range(1, int(os.environ.get("BUSY_STOPS", "10")) + 1):
        check_busy_stop(i)
    return 0


if __name__ == "__main__":
    sys.exit(main())
