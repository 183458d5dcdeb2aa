# SPDX-License-Identifier: MIT
"""dvped's control socket from Python: the one client the integration tests (tests/integration/)
and the benchmarks and load tests (perf/) share. python3 standard library only.

The protocol is docs/control.md's: a UNIX stream socket, one JSON object per line each way.
request() is the Python twin of `control::control_request()` (what dvpectl uses): connect, send
one line, read one line, close; its errors read like the C++ client's.

    request(path, {"cmd": "peers"})   the decoded reply, {"ok": false, ...} included
    command(path, "reload")           the reply; CommandFailed if it says "ok": false
    status(path) / try_status(path)   `status`, or None while nothing answers yet (start-up)
    worker_sum(status, key), peers_by_name(reply)        counters of a reply
    wait_for(pred, timeout, what)     poll until pred() holds; AssertionError naming `what`
    stop_process(proc, timeout)       SIGTERM (or another signal), wait, SIGKILL when it hangs
    rss_kib(pid)                      VmRSS of a process

It is not a package: import it by path, from tests/integration/ or perf/:

    sys.path.insert(0, os.path.join(<repository>, "tests"))
    import dvpe_client as dc
"""
import json
import signal
import socket
import subprocess
import time

DEFAULT_TIMEOUT = 5.0  # seconds; the server closes a client idle for 5 s (docs/control.md 2.1)


class ControlSocketError(OSError):
    """No usable reply: cannot connect, no reply within the timeout, the connection closed without
    a reply, or a reply that is not a JSON object. An OSError, so `except OSError` around a daemon
    that is still starting covers every way the socket is not there yet."""


class CommandFailed(RuntimeError):
    """The daemon answered {"ok": false, "error": ...} to a command()."""

    def __init__(self, path, cmd, error):
        super().__init__("%s: %s failed: %s" % (path, cmd, error))
        self.path = path
        self.cmd = cmd
        self.error = error


def _socket_error(message, cause=None):
    e = ControlSocketError(message)
    e.errno = getattr(cause, "errno", None)
    return e


def request(path, req, timeout=DEFAULT_TIMEOUT):
    """Sends the JSON object `req` as one line on the control socket at `path` and returns the
    decoded reply line (whatever its "ok"). Raises ControlSocketError."""
    line = (json.dumps(req) + "\n").encode()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        try:
            s.connect(path)
        except OSError as e:
            raise _socket_error("cannot connect to %s: %s" % (path, e.strerror or e), e) from None
        buf = b""
        try:
            s.sendall(line)
            while not buf.endswith(b"\n"):
                chunk = s.recv(1 << 20)
                if not chunk:
                    break
                buf += chunk
        except socket.timeout as e:
            raise _socket_error("timeout waiting for a reply from %s (%gs)" % (path, timeout), e) from None
        except OSError as e:
            raise _socket_error("%s: %s" % (path, e.strerror or e), e) from None
    finally:
        s.close()
    if not buf:
        raise _socket_error("%s closed the connection without a reply" % path)
    try:
        reply = json.loads(buf.decode())
    except ValueError as e:
        raise _socket_error("invalid reply from %s: %s: %r" % (path, e, buf[:200])) from None
    if not isinstance(reply, dict):
        raise _socket_error("invalid reply from %s: not a JSON object: %r" % (path, buf[:200]))
    return reply


def command(path, cmd, timeout=DEFAULT_TIMEOUT, **args):
    """Runs `cmd` (with `args` as its arguments) and returns the reply; raises CommandFailed if
    the reply says "ok": false, ControlSocketError if there is none."""
    req = {"cmd": cmd}
    req.update(args)
    reply = request(path, req, timeout)
    if not reply.get("ok"):
        raise CommandFailed(path, cmd, reply.get("error"))
    return reply


def status(path, timeout=DEFAULT_TIMEOUT):
    """The `status` reply (docs/control.md 3)."""
    return command(path, "status", timeout)


def try_status(path, timeout=DEFAULT_TIMEOUT):
    """The `status` reply, or None if nothing answers it (yet): for start-up loops."""
    try:
        return status(path, timeout)
    except (OSError, CommandFailed):
        return None


def worker_sum(st, key):
    """A per-worker counter of a `status` reply, summed over the workers."""
    return sum(w[key] for w in st["workers"])


def peers_by_name(reply):
    """{name: peer} of a `peers` reply."""
    return {p["name"]: p for p in reply["peers"]}


def wait_for(pred, timeout, what, diag=lambda: "", interval=0.1):
    """Polls pred() until it returns something true and returns that; AssertionError after
    `timeout` seconds naming `what` (and diag()). Use instead of sleeping and then asserting."""
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError("timed out after %gs waiting for %s %s" % (timeout, what, diag()))
        time.sleep(interval)


def stop_process(proc, timeout, sig=signal.SIGTERM):
    """Sends `sig` to a running subprocess.Popen and waits up to `timeout` seconds for it, then
    SIGKILLs it. Returns False if it had to be killed, True otherwise (also when it had already
    ended)."""
    if proc.poll() is not None:
        return True
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
        return True
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return False


def rss_kib(pid):
    """VmRSS of process `pid` in KiB (0 if /proc does not say). Of dvped under `ip netns exec`,
    which execs, it is the Popen's pid."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0
