#!/usr/bin/env bash
# Makes real HAProxy and keepalived binaries of other versions ready to run,
# from Debian's package archive (docs/compatibility.md; the method is the one
# recorded in docs/testing.md): each package is downloaded with every library
# it needs, all from the same Debian release, unpacked with `dpkg -x` into a
# private folder, and its binary patched (`patchelf`) to use that folder's
# loader and libraries (`--force-rpath`: a run-path is not followed by the
# libraries' own dependencies). The machine's apt setup is not touched: a
# private sources file and private apt state, under the cache.
#
# Cached outside the work tree, keyed by product and major.minor version
# ($HAWATCH_VERSIONS_DIR, default ~/.cache/hawatch/versions): a second run
# downloads nothing. Prints one line per version made ready:
#     haproxy 3.2 3.2.26-1 /root/.cache/hawatch/versions/haproxy-3.2/root/usr/sbin/haproxy
# and writes the same lines to $HAWATCH_VERSIONS_DIR/ready.txt.
#
# Usage: scripts/versions.sh            # every version below
#        scripts/versions.sh haproxy-3.2 # some of them
set -euo pipefail
cd "$(dirname "$0")/.."

# product-major.minor  Debian release  package
TABLE="
haproxy-2.2     bullseye  haproxy
haproxy-3.0     trixie    haproxy
haproxy-3.2     forky     haproxy
keepalived-2.3  trixie    keepalived
"

CACHE="${HAWATCH_VERSIONS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hawatch/versions}"
mkdir -p "$CACHE"

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
need=()
command -v patchelf >/dev/null 2>&1 || need+=(patchelf)
command -v dpkg >/dev/null 2>&1 || need+=(dpkg)
if [ ${#need[@]} -gt 0 ]; then
  echo "versions.sh: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The machine's Debian archive address (CI reaches it like this machine does).
mirror() {
  local u
  u=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null \
    | awk '{print $2}' | grep -v -- '-security' | grep -m1 debian || true)
  if [ -z "$u" ]; then
    u=$(grep -hs '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | grep -m1 debian || true)
  fi
  echo "${u:-http://deb.debian.org/debian}"
}

# apt options for one release's private state.
apt_opts() {
  local suite=$1 dir="$CACHE/apt-$1"
  echo "-o Dir::Etc::SourceList=$dir/sources.list -o Dir::Etc::SourceParts=/dev/null" \
    "-o Dir::State::Lists=$dir/lists -o Dir::Cache=$dir/cache -o Dir::State::status=$dir/status" \
    "-o APT::Get::List-Cleanup=0 -o Debug::NoLocking=1 -o APT::Sandbox::User=root -o APT::Architecture=amd64"
}

apt_ready() {
  local suite=$1 dir="$CACHE/apt-$1"
  [ -f "$dir/updated" ] && return 0
  mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
  : >"$dir/status"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(mirror) $suite main" >"$dir/sources.list"
  # shellcheck disable=SC2046
  apt-get $(apt_opts "$suite") update -qq >&2
  touch "$dir/updated"
}

# The package and every package it depends on, recursively, in that release.
closure() {
  local suite=$1 pkg=$2
  # shellcheck disable=SC2046
  apt-cache $(apt_opts "$suite") depends --recurse --no-recommends --no-suggests \
    --no-conflicts --no-breaks --no-replaces --no-enhances "$pkg" \
    | grep -v '^ ' | grep -v '^<' | sort -u
}

make_ready() {
  local key=$1 suite=$2 pkg=$3
  local dir="$CACHE/$key" bin
  case "$pkg" in
    haproxy) bin=usr/sbin/haproxy ;;
    keepalived) bin=usr/sbin/keepalived ;;
  esac
  if [ ! -f "$dir/ready" ]; then
    echo "versions.sh: fetching $key from Debian $suite" >&2
    apt_ready "$suite"
    rm -rf "$dir"
    mkdir -p "$dir/debs" "$dir/root"
    local pkgs
    pkgs=$(closure "$suite" "$pkg")
    # Packages an unpacked binary does not need (scripts, docs, init).
    pkgs=$(echo "$pkgs" | grep -Ev '^(debconf|dpkg|perl|perl-base|perl-modules-.*|adduser|passwd|init-system-helpers|lsb-base|sysvinit-utils|debianutils|coreutils|tar|bash|dash|base-files|install-info|readline-common|libc-bin|login|util-linux|mount|sensible-utils|ucf|procps|iproute2|systemd|systemd-dev|systemd-sysv|libpam-.*|netbase|tzdata|media-types|mailcap|shared-mime-info|libsnmp-base|cdebconf|lsb-release|python3.*|openssl|openssl-provider-legacy)$' || true)
    # shellcheck disable=SC2046
    (cd "$dir/debs" && apt-get $(apt_opts "$suite") download -qq $pkgs >&2)
    for d in "$dir"/debs/*.deb; do
      dpkg -x "$d" "$dir/root"
    done
    local lib="$dir/root/usr/lib/x86_64-linux-gnu"
    local paths="$lib:$dir/root/lib/x86_64-linux-gnu"
    # perl's library lives in a versioned folder of its own (keepalived → libsnmp → libperl).
    for p in "$lib"/perl/*/ "$lib"/perl5/*/; do [ -d "$p" ] && paths="$paths:${p%/}"; done
    # Older releases keep the loader in /lib (before the /usr merge).
    local ld="$lib/ld-linux-x86-64.so.2"
    [ -e "$ld" ] || ld="$dir/root/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
    patchelf --set-interpreter "$ld" --force-rpath --set-rpath "$paths" "$dir/root/$bin"
    if [ "$pkg" = keepalived ]; then
      # Debian 13's keepalived reads its build options from an absolute path
      # under /etc/keepalived; the harness bind-mounts this folder there.
      # A wrapper runs it in a private mount namespace with that folder
      # bind-mounted over /etc/keepalived (the machine's /etc is untouched;
      # the mount point must exist: the machine's keepalived package makes it).
      mkdir -p "$dir/etc-keepalived"
      cp "$dir"/root/etc/keepalived/* "$dir/etc-keepalived/" 2>/dev/null || true
      [ -d /etc/keepalived ] || $SUDO mkdir -p /etc/keepalived
      cat >"$dir/keepalived" <<'WRAP'
#!/bin/sh
# keepalived from Debian's archive, run in place (scripts/versions.sh).
here=$(dirname "$(readlink -f "$0")")
exec unshare -m sh -c 'mount --bind "$1" /etc/keepalived && shift && exec "$@"' sh \
  "$here/etc-keepalived" "$here/root/usr/sbin/keepalived" "$@"
WRAP
      chmod +x "$dir/keepalived"
      bin=keepalived
    fi
    # shellcheck disable=SC2046
    apt-cache $(apt_opts "$suite") show "$pkg" | awk '/^Version:/{print $2; exit}' >"$dir/version"
    rm -rf "$dir/debs"
    # It runs, or this version is not ready.
    if [ "$pkg" = haproxy ]; then
      "$dir/root/$bin" -vv >"$dir/vv.txt" 2>&1 || { echo "versions.sh: $key does not run:" >&2; cat "$dir/vv.txt" >&2; exit 1; }
    else
      "$dir/$bin" --version >"$dir/vv.txt" 2>&1 || true
      grep -q '^Keepalived v' "$dir/vv.txt" || { echo "versions.sh: $key does not run:" >&2; cat "$dir/vv.txt" >&2; exit 1; }
    fi
    touch "$dir/ready"
  fi
  local path="$dir/root/usr/sbin/haproxy"
  [ "$pkg" = haproxy ] || path="$dir/keepalived"
  echo "${pkg} ${key#*-} $(cat "$dir/version") $path"
}

want=("$@")
out=()
while read -r key suite pkg; do
  [ -n "$key" ] || continue
  if [ ${#want[@]} -gt 0 ] && [[ ! " ${want[*]} " == *" $key "* ]]; then
    continue
  fi
  out+=("$(make_ready "$key" "$suite" "$pkg")")
done <<<"$TABLE"
printf '%s\n' "${out[@]}" | tee "$CACHE/ready.txt"
