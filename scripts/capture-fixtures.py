#!/usr/bin/env python3
"""Captures the per-version fixtures of crates/haproxy/tests/fixtures/haproxy-X.Y
from a real HAProxy binary (scripts/versions.sh makes them ready). A developer
tool, not run by CI: the captures are committed, the binaries are not.

    python3 scripts/capture-fixtures.py BIN OUTDIR

Everything listens on 127.0.0.1, on ports the kernel picks. The setup is the
one of tests/fixtures/haproxy-2.6/haproxy.cfg (UP, DOWN, NOLB, agent-held,
`no check`, backup, tracking, MAINT servers), reduced to what the parsers read;
see the README.md written next to the captures.
"""
import http.server
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Health(http.server.BaseHTTPRequestHandler):
    code = 200

    def do_GET(self):
        self.send_response(self.server.code)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *a):
        pass

    def handle(self):
        try:
            super().handle()
        except OSError:
            pass


def http_server(code):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
    srv.code = code
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv.server_address[1]


def agent_server(reply):
    l = socket.socket()
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind(("127.0.0.1", 0))
    l.listen(16)

    def run():
        while True:
            c, _ = l.accept()
            try:
                c.sendall(reply.encode())
            except OSError:
                pass
            finally:
                c.close()

    threading.Thread(target=run, daemon=True).start()
    return l.getsockname()[1]


def connect(path):
    # The master's socket is away while it re-executes itself for a reload.
    for _ in range(100):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            time.sleep(0.05)
    raise SystemExit(f"cannot connect to {path}")


def read_all(s):
    out = b""
    end = time.time() + 10
    while time.time() < end:
        try:
            d = s.recv(65536)
        except socket.timeout:
            break
        if not d:
            break
        out += d
    return out.decode("utf-8", "replace")


def cli(path, cmd):
    s = connect(path)
    s.sendall((cmd + "\n").encode())
    out = read_all(s)
    s.close()
    return out


def http_get(port, path):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
    out = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        out += d
    s.close()
    head, body = out.split(b"\r\n\r\n", 1)
    if b"transfer-encoding: chunked" in head.lower():
        # 2.2 answers an HTTP/1.0 request in chunks.
        plain = b""
        while body:
            size, rest = body.split(b"\r\n", 1)
            n = int(size, 16)
            if n == 0:
                break
            plain += rest[:n]
            body = rest[n + 2 :]
        body = plain
    return body.decode("utf-8", "replace")


CFG = """global
    stats socket "{run}/admin.sock" mode 600 level admin
    stats timeout 2m
    log ring@evring local0

ring evring
    description "state-change events"
    format rfc3164
    maxlen 1200
    size 32768

defaults
    mode http
    log global
    timeout connect 1s
    timeout client 10s
    timeout server 10s
    timeout check 1s

frontend fe_main
    bind 127.0.0.1:{fe} name main-http
    default_backend be_app

backend be_app
    balance roundrobin
    option httpchk GET /health
    http-check disable-on-404
    default-server inter 500ms fall 2 rise 2
    server app1 127.0.0.1:{ok} check
    server app2 127.0.0.1:{closed} check
    server app3 127.0.0.1:{ok} check agent-check agent-port {agent} agent-inter 500ms
    server app404 127.0.0.1:{nf} check
    server app500 127.0.0.1:{err} check
    server nochk 127.0.0.1:{ok}
    server bkp 127.0.0.1:{ok} check backup
    server trk 127.0.0.1:{ok} track be_app/app1
    server w0 127.0.0.1:{ok} check weight 0

backend be_dead
    server d1 127.0.0.1:{closed} check inter 500ms fall 2 rise 2

backend be_tcp
    mode tcp
    server t1 127.0.0.1:{ok} check inter 500ms
    server t2 127.0.0.1:{ok} check inter 500ms disabled

listen stats
    bind 127.0.0.1:{stats}
    no log
    stats enable
    stats uri /stats
"""


def main():
    binary, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    run = tempfile.mkdtemp(prefix="hawatch-capture-")
    closed = free_port()
    ports = dict(
        run=run,
        fe=free_port(),
        ok=http_server(200),
        nf=http_server(404),
        err=http_server(500),
        agent=agent_server("down maintenance window\n"),
        closed=closed,
        stats=free_port(),
    )
    cfg = os.path.join(run, "haproxy.cfg")
    with open(cfg, "w") as f:
        f.write(CFG.format(**ports))
    master = os.path.join(run, "master.sock")
    vv = subprocess.run([binary, "-vv"], capture_output=True, text=True).stdout
    version = vv.splitlines()[0]
    p = subprocess.Popen(
        [binary, "-W", "-S", master, "-f", cfg],
        stdout=subprocess.DEVNULL,
        stderr=open(os.path.join(out, "startup-stderr.txt"), "w"),
    )
    files = {}
    try:
        time.sleep(0.05)
        for _ in range(100):
            if os.path.exists(os.path.join(run, "admin.sock")):
                break
            time.sleep(0.05)
        files["show-stat-after-start.csv"] = cli(os.path.join(run, "admin.sock"), "show stat")
        time.sleep(4)
        adm = os.path.join(run, "admin.sock")
        files["show-info.txt"] = cli(adm, "show info")
        files["show-stat.csv"] = cli(adm, "show stat")
        files["show-servers-state.txt"] = cli(adm, "show servers state")
        files["show-events-evring.txt"] = cli(adm, "show events evring")
        files["http-stats.csv"] = http_get(ports["stats"], "/stats;csv")
        files["http-stats-scope.html"] = http_get(ports["stats"], "/stats;scope=~")
        files["master-show-proc.txt"] = cli(master, "show proc")
        # Reload verdicts: a good config, two at once, a broken config.
        files["master-reload-ok.txt"] = cli(master, "reload")
        time.sleep(3)
        a = connect(master)
        a.sendall(b"reload\n")
        time.sleep(0.01)
        files["master-reload-twice.txt"] = cli(master, "reload")
        files["master-reload-first-of-two.txt"] = read_all(a)
        a.close()
        time.sleep(3)
        with open(cfg, "a") as f:
            f.write("\nbackend broken\n    server x 127.0.0.1:1 check bogus-keyword\n")
        files["master-reload-bad.txt"] = cli(master, "reload")
        time.sleep(2)
        files["master-show-proc-after-bad.txt"] = cli(master, "show proc")
        # A reload while the previous one is still starting: a worker whose
        # start takes 1.5 s (a Lua busy loop at load time).
        slow = os.path.join(run, "slow.lua")
        with open(slow, "w") as f:
            f.write("local t = os.clock()\nwhile os.clock() - t < 1.5 do end\n")
        with open(cfg, "w") as f:
            f.write(CFG.format(**ports).replace("global\n", f"global\n    lua-load {slow}\n", 1))
        a = connect(master)
        a.sendall(b"reload\n")
        time.sleep(0.4)
        files["master-reload-busy.txt"] = cli(master, "reload")
        files["master-reload-slow.txt"] = read_all(a)
        a.close()
        time.sleep(2)
    finally:
        p.terminate()
        p.wait(10)
    for name, text in files.items():
        with open(os.path.join(out, name), "w") as f:
            f.write(text.replace(run, "${RUN}").replace(binary, "${BIN}"))
    with open(os.path.join(out, "haproxy.cfg"), "w") as f:
        f.write(CFG)
    with open(os.path.join(out, "VERSION"), "w") as f:
        f.write(version + "\n")
    print(f"captured {len(files)} files from {version} into {out}")


if __name__ == "__main__":
    main()
