#!/usr/bin/env python3
"""Rewrites the "# Rules" part of docs/doctor.md from `hawatch doctor --explain all`.

The rules live in src/logic/lint/rules.rs; a unit test
(`docs_doctor_md_lists_every_rule`) fails when docs/doctor.md no longer says
what they say. Run after changing a rule:

    cargo build && python3 scripts/doctor-rules-md.py target/debug/hawatch
"""
import re
import subprocess
import sys
from pathlib import Path

GROUPS = {
    "HW0": "`haproxy -c` and the running HAProxy",
    "HW1": "Servers and checks",
    "HW2": "The stats page and sockets",
    "HW3": "Keywords",
    "HW4": "Timeouts and limits",
    "HW5": "TLS and certificates",
    "HW7": "The host",
    "HW8": "keepalived",
}


def rules(text):
    for i, block in enumerate(text.strip().split("\n\nHW")):
        block = block if i == 0 else "HW" + block
        lines = block.split("\n")
        rid, name, level, scope = re.match(r"(HW\d+) (\S+) \((\w+), (\w+) rule", lines[0]).groups()
        why = fix = ""
        bad, good, mode = [], [], None
        for l in lines[2:]:
            if l.startswith("  Why: "):
                why = l[7:]
            elif l.startswith("  Fix: "):
                fix = l[7:]
            elif l.strip() == "Triggers it:":
                mode = bad
            elif l.strip() == "Does not:":
                mode = good
            elif mode is not None and l.startswith("    "):
                mode.append(l[4:])
        yield rid, name, level, scope, lines[1].strip(), why, fix, bad, good


def markdown(all_rules):
    out = ["| id | rule | worst level | needs | finds |", "|---|---|---|---|---|"]
    for r in all_rules:
        out.append(f"| [{r[0]}](#{r[0].lower()}-{r[1]}) | `{r[1]}` | {r[2]} | {r[3]} | {r[4]} |")
    out.append("")
    group = None
    for rid, name, level, scope, summary, why, fix, bad, good in all_rules:
        if rid[:3] != group:
            group = rid[:3]
            out.append(f"## {GROUPS[group]}\n")
        out.append(f"### {rid} {name}\n")
        offline = " (runs with `--offline` and in `apply`)" if scope == "file" and rid != "HW001" else ""
        out.append(f"{summary[0].upper() + summary[1:]}. Worst level: **{level}**; needs: {scope}{offline}.\n")
        out.append(f"**Why.** {why}\n")
        out.append(f"**Fix.** {fix}\n")
        if bad:
            out.append("Triggers it:\n\n```haproxy\n" + "\n".join(bad) + "\n```\n")
            out.append("Does not:\n\n```haproxy\n" + "\n".join(good) + "\n```\n")
    return "\n".join(out)


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/debug/hawatch"
    text = subprocess.run([binary, "doctor", "--explain", "all"], check=True, capture_output=True, text=True).stdout
    doc = Path(__file__).resolve().parent.parent / "docs" / "doctor.md"
    head = doc.read_text().split("\n# Rules\n")[0]
    doc.write_text(head + "\n# Rules\n\n" + markdown(list(rules(text))))


if __name__ == "__main__":
    main()
