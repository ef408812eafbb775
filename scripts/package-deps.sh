#!/usr/bin/env bash
# What scripts/package.sh builds with, installed if missing: zig and
# cargo-zigbuild (from PyPI: the portable binary is linked against glibc 2.17's
# symbols), cargo-deb and cargo-generate-rpm (from crates.io, pinned), and the
# Debian tools the package tests use (lintian, rpm, debootstrap, man-db,
# systemd's systemd-analyze). Silent when nothing is missing.
set -euo pipefail
CARGO_DEB_VERSION=3.8.0
CARGO_GENERATE_RPM_VERSION=0.21.1
ZIGLANG_VERSION=0.17.1
CARGO_ZIGBUILD_VERSION=0.24.1

if ! python3 -m ziglang version 2>/dev/null | grep -qx "$ZIGLANG_VERSION" \
  || ! cargo-zigbuild --version 2>/dev/null | grep -q "$CARGO_ZIGBUILD_VERSION"; then
  echo "package-deps.sh: pip install ziglang cargo-zigbuild" >&2
  python3 -m pip install -q --disable-pip-version-check \
    "ziglang==$ZIGLANG_VERSION" "cargo-zigbuild==$CARGO_ZIGBUILD_VERSION"
  # A pyenv Python puts new commands on PATH through its shims.
  if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
  hash -r
fi
if ! cargo deb --version 2>/dev/null | grep -q "$CARGO_DEB_VERSION"; then
  echo "package-deps.sh: cargo install cargo-deb $CARGO_DEB_VERSION" >&2
  cargo install -q --locked cargo-deb --version "$CARGO_DEB_VERSION"
fi
if ! cargo generate-rpm --version 2>/dev/null | grep -q "$CARGO_GENERATE_RPM_VERSION"; then
  echo "package-deps.sh: cargo install cargo-generate-rpm $CARGO_GENERATE_RPM_VERSION" >&2
  cargo install -q --locked cargo-generate-rpm --version "$CARGO_GENERATE_RPM_VERSION"
fi

need=()
command -v lintian >/dev/null 2>&1 || need+=(lintian)
command -v rpm >/dev/null 2>&1 || need+=(rpm)
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || need+=(debootstrap)
command -v man >/dev/null 2>&1 || need+=(man-db)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
command -v objdump >/dev/null 2>&1 || need+=(binutils)
bash "$(dirname "$0")/apt-install.sh" package-deps.sh ${need[@]+"${need[@]}"}
