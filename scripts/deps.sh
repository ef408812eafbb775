#!/usr/bin/env bash
# Installs the Debian packages hawatch's demo and tests run for real (HAProxy,
# openssl, aiosmtpd for the test SMTP server, Alertmanager, promtool and the Go
# haproxy_exporter, keepalived and iproute2, tmux for `hawatch top`'s
# end-to-end tests), skipping what is
# already there. Needs root (or sudo) and apt-get. Silent when nothing is missing.
set -euo pipefail
need=()
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || need+=(haproxy)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# The tests run Debian's interpreter explicitly (`python3` on PATH may be a pyenv one
# that does not see Debian's python3-* packages).
{ [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import aiosmtpd' >/dev/null 2>&1; } || need+=(python3-aiosmtpd)
command -v prometheus-alertmanager >/dev/null 2>&1 || [ -x /usr/bin/prometheus-alertmanager ] || need+=(prometheus-alertmanager)
# promtool (rule tests, `check metrics`) and the Go exporter hawatch's /metrics is compared with.
[ -x /usr/bin/promtool ] || need+=(prometheus)
[ -x /usr/bin/prometheus-haproxy-exporter ] || need+=(prometheus-haproxy-exporter)
# The HA-pair test: keepalived in network namespaces made with `ip netns`.
[ -x /usr/sbin/keepalived ] || need+=(keepalived)
command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || need+=(iproute2)
# `hawatch top` in a real terminal (tests/it/top.rs).
command -v tmux >/dev/null 2>&1 || need+=(tmux)
bash "$(dirname "$0")/apt-install.sh" deps.sh ${need[@]+"${need[@]}"}
