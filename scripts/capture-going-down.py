#!/usr/bin/env python3
"""Captures the moment a real HAProxy shows a server going DOWN with a
negative count (`UP -2/1`): a `rise 3 fall 1` server whose first check just
failed, before HAProxy applies the state change. A developer tool, not run by
CI; the capture is committed.

    python3 scripts/capture-going-down.py BIN OUT.csv

HAProxy prints `UP %d/%d` with `health - rise + 1` (stats-proxy.c), which is
negative while a server whose health fell below `rise` is still RUNNING. Seen
on 3.2 (the server state change is applied by a later task); the script
polls `show stat` for at most 5 s and fails when no such row came.
"""
import os
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from importlib import import_module

cap = import_module("capture-fixtures")


def main():
    binary, out = sys.argv[1], sys.argv[2]
    run = tempfile.mkdtemp(prefix="hawatch-capture-")
    closed = cap.free_port()
    sock = os.path.join(run, "admin.sock")
    cfg = os.path.join(run, "haproxy.cfg")
    servers = "".join(
        f"    server s{i} 127.0.0.1:{closed} check inter 100ms fall 1 rise 3\n" for i in range(20)
    )
    with open(cfg, "w") as f:
        f.write(
            "global\n"
            f"    stats socket {sock} level admin\n"
            "defaults\n    mode tcp\n    timeout connect 1s\n"
            "    timeout client 1s\n    timeout server 1s\n"
            f"backend be0\n{servers}"
        )
    p = subprocess.Popen([binary, "-db", "-f", cfg], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    found = None
    try:
        end = time.time() + 5
        while time.time() < end and found is None:
            try:
                text = cap.cli(sock, "show stat")
            except SystemExit:
                continue
            for line in text.splitlines()[1:]:
                f = line.split(",")
                if len(f) > 17 and f[17].split(" ")[-1].startswith("-"):
                    found = text
                    break
    finally:
        p.terminate()
        p.wait(10)
    if found is None:
        raise SystemExit(f"{binary}: no negative count seen in 5 s")
    with open(out, "w") as f:
        f.write(found)
    print(f"captured into {out}")


if __name__ == "__main__":
    main()
