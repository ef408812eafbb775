#!/usr/bin/env python3
"""Real screens of `hawatch top` for docs/top.md and README: a real HAProxy
(the `haproxy` on PATH) with three backends on loopback, `hawatch watch` storing
events, and `hawatch top` in tmux at 80x24 and 140x36. A developer tool, not
run by CI.

    python3 scripts/capture-top.py target/debug/hawatch OUTDIR

Writes OUTDIR/status-80x24.txt, status-140x36.txt, traffic-140x36.txt,
confirm-80x24.txt, after-drain-140x36.txt, runtime-140x36.txt. Everything
listens on 127.0.0.1 on ports the kernel picks; everything started is stopped.
"""
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from importlib import import_module

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# The same free ports and health-checked HTTP servers as the fixture captures.
cap = import_module("capture-fixtures")
free_port = cap.free_port


def http_server():
    return cap.http_server(200)


def main():
    hawatch, out = os.path.abspath(sys.argv[1]), sys.argv[2]
    os.makedirs(out, exist_ok=True)
    run = tempfile.mkdtemp(prefix="hawatch-top-")
    live = [http_server() for _ in range(4)]
    dead = free_port()
    fe = free_port()
    sock = os.path.join(run, "admin.sock")
    cfg = os.path.join(run, "haproxy.cfg")
    with open(cfg, "w") as f:
        f.write(f"""global
    stats socket {sock} mode 600 level admin
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe_web
    bind 127.0.0.1:{fe}
    use_backend api if {{ path_beg /api }}
    default_backend web
backend web
    option httpchk GET /
    server web1 127.0.0.1:{live[0]} check inter 500ms
    server web2 127.0.0.1:{live[1]} check inter 500ms
    server web3 127.0.0.1:{dead} check inter 500ms fall 2
backend api
    option httpchk GET /
    server api1 127.0.0.1:{live[2]} check inter 500ms
    server api2 127.0.0.1:{live[3]} check inter 500ms
backend legacy
    server old1 127.0.0.1:{dead} check inter 500ms
""")
    haproxy = subprocess.Popen(["haproxy", "-db", "-f", cfg], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if os.path.exists(sock):
            break
        time.sleep(0.05)
    conf = os.path.join(run, "hawatch.toml")
    with open(conf, "w") as f:
        f.write(f"""[watch]
interval = "500ms"
store = "{run}/hawatch.db"

[notify]
host = "lb1"

[[haproxy]]
name = "lb1"
socket = "{sock}"

[http]
listen = "127.0.0.1:0"
""")
    watch = subprocess.Popen([hawatch, "watch", "--config", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tsock = os.path.join(run, "tmux.sock")
    tconf = os.path.join(run, "tmux.conf")
    with open(tconf, "w") as f:
        f.write("set -g status off\n")

    def tmux(*args):
        return subprocess.run(["tmux", "-S", tsock, *args], capture_output=True, text=True).stdout

    def screen():
        return tmux("capture-pane", "-p", "-t", "0")

    def save(name):
        with open(os.path.join(out, name), "w") as f:
            f.write("\n".join(l.rstrip() for l in screen().splitlines()).rstrip() + "\n")

    def wait(text, limit=15):
        end = time.time() + limit
        while time.time() < end:
            if text in screen():
                return
            time.sleep(0.2)
        raise SystemExit(f"{text!r} never showed:\n{screen()}")

    try:
        time.sleep(3)
        # Some traffic, so the counters are not all zero.
        for i in range(60):
            path = "/api/x" if i % 3 == 0 else "/"
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{fe}{path}", timeout=2).read()
            except Exception:
                pass
        # A change the watcher stores: api2 drained and back, through ctl.
        for state in ["drain", "ready"]:
            subprocess.run([hawatch, "ctl", "--config", conf, "--yes", "server", "api/api2", state],
                           capture_output=True)
            time.sleep(1.2)
        env = dict(os.environ, TERM="xterm-256color")
        env.pop("TMUX", None)
        for (w, h) in [(80, 24), (140, 36)]:
            subprocess.run(["tmux", "-S", tsock, "-f", tconf, "new-session", "-d", "-x", str(w), "-y", str(h),
                            "--", hawatch, "top", "--config", conf], env=env, check=True)
            wait("web3")
            wait("audit_ctl")
            time.sleep(1.5)
            save(f"status-{w}x{h}.txt")
            if w == 80:
                tmux("send-keys", "-t", "0", "/")
                tmux("send-keys", "-t", "0", "-l", "web2")
                tmux("send-keys", "-t", "0", "Enter", "Down", "d")
                wait("proceed?")
                save("confirm-80x24.txt")
                tmux("send-keys", "-t", "0", "n")
            else:
                tmux("send-keys", "-t", "0", "2")
                time.sleep(1.0)
                save("traffic-140x36.txt")
                tmux("send-keys", "-t", "0", "1", "/")
                tmux("send-keys", "-t", "0", "-l", "web2")
                tmux("send-keys", "-t", "0", "Enter", "Down", "d")
                wait("proceed?")
                tmux("send-keys", "-t", "0", "y")
                wait("DRAIN")
                time.sleep(1.5)
                save("after-drain-140x36.txt")
                tmux("send-keys", "-t", "0", "Escape")
                time.sleep(0.5)
                tmux("send-keys", "-t", "0", "5")
                tmux("send-keys", "-t", "0", "-l", "show servers conn web")
                tmux("send-keys", "-t", "0", "Enter")
                wait("> show servers conn web")
                time.sleep(0.5)
                save("runtime-140x36.txt")
            tmux("kill-server")
            time.sleep(0.3)
    finally:
        tmux("kill-server")
        watch.terminate()
        haproxy.terminate()
        watch.wait(10)
        haproxy.wait(10)
    print(f"captured into {out}")


if __name__ == "__main__":
    main()
