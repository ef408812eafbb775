#!/usr/bin/env bash
# apt-install.sh WHO PACKAGE...: install Debian packages (apt-get update first),
# as root or through sudo; WHO names the calling script in messages. Used by
# deps.sh and package-deps.sh, which decide what is missing.
set -euo pipefail
who=$1
shift
[ $# -gt 0 ] || exit 0
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "$who: need root to install $* (apt-get)" >&2; exit 1; }
  SUDO="sudo"
fi
echo "$who: installing $*" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
