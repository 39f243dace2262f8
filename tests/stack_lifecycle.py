"""The local stack's start and stop, seen from outside (issue 9):

1. a port already held by another program stops `scripts/stack.sh` at once with one line naming
   the port and the variable that moves it (no traceback, no reuse of what listens there);
2. a stop by SIGTERM to the process group, by SIGHUP and by SIGINT (Ctrl-C) ends every process the
   stack started, moto included, and frees every port within a few seconds.

Run by `make test` (scripts/test.sh) on ports of its own; prints what it checked.
"""
import os
import signal
import socket
import subprocess
import sys
import time

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


def main():
    check_taken_port()
    check_stop(signal.SIGTERM, to_group=True)
    check_stop(signal.SIGHUP, to_group=False)
    check_stop(signal.SIGINT, to_group=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
