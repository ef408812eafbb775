#!/usr/bin/env bash
# The packages, tested for real (issue 15): builds them (scripts/package.sh),
# installs the .deb with dpkg on this machine and checks the user, files, modes,
# `hawatch --version`, `config check`, `man hawatch`, the completions,
# `systemd-analyze verify` of every unit, lintian, the watcher running as the
# `hawatch` user against a real HAProxy whose socket is group haproxy mode 660
# (tests/it/package.rs), a reinstall keeping the edited conffile, then remove and
# purge leaving nothing behind; compares `rpm -qlp` of the .rpm with the .deb's
# files; runs the portable binary inside a Debian 11 root made with debootstrap
# (cached in ~/.cache/hawatch/roots). Needs root; refuses to touch a machine
# where a hawatch package is already installed.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin:/sbin"
if [ "$(id -u)" -ne 0 ]; then
  echo "test-package.sh: needs root (dpkg -i, a system user, chroot)" >&2
  exit 1
fi
if dpkg-query -W -f='${Status}' hawatch 2>/dev/null | grep -q "installed"; then
  echo "test-package.sh: a hawatch package is installed here already; remove it first" >&2
  exit 1
fi
bash scripts/deps.sh
bash scripts/package.sh

out=target/package
deb=$(ls "$out"/hawatch_*_amd64.deb)
rpm=$(ls "$out"/hawatch-*.x86_64.rpm)
failed=0
ok() { echo "ok    $*"; }
bad() { echo "FAIL  $*"; failed=$((failed + 1)); }
check() { # check DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@" >/tmp/hawatch-pkg-check.$$ 2>&1; then ok "$what"; else bad "$what"; sed 's/^/      /' /tmp/hawatch-pkg-check.$$; fi
  rm -f /tmp/hawatch-pkg-check.$$
}
mode_of() { stat -c '%a %U:%G' "$1"; }
expect_mode() { # expect_mode PATH "MODE USER:GROUP"
  local got; got=$(mode_of "$1" 2>&1 || true)
  if [ "$got" = "$2" ]; then ok "$1 is $2"; else bad "$1 is '$got', expected '$2'"; fi
}
cleanup() {
  if dpkg-query -W -f='${Status}' hawatch 2>/dev/null | grep -q "installed\|config-files"; then
    dpkg -P hawatch >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

echo "== lintian"
lintian_out=$(lintian --fail-on error "$deb" 2>&1) && lrc=0 || lrc=$?
echo "$lintian_out" | sed 's/^/      /'
if [ "$lrc" -eq 0 ]; then ok "lintian: no errors"; else bad "lintian: errors (exit $lrc)"; fi

echo "== the .rpm lists the .deb's files"
deb_files=$(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { sub(/^\.\//, "/", $6); print $6 }' \
  | grep -v '^/usr/share/doc/hawatch/\(copyright\|changelog.Debian.gz\)$\|^/usr/share/lintian/' \
  | sed 's#^/usr/share/zsh/vendor-completions/#/usr/share/zsh/site-functions/#' | sort)
rpm_files=$(rpm -qlp "$rpm" 2>/dev/null | sort)
if [ "$deb_files" = "$rpm_files" ]; then
  ok "rpm -qlp: the same $(echo "$rpm_files" | wc -l) files (zsh's completion in site-functions; Debian's copyright, changelog and lintian overrides are the .deb's own)"
else
  bad "rpm -qlp differs from the .deb"; diff <(echo "$deb_files") <(echo "$rpm_files") | sed 's/^/      /' || true
fi

echo "== dpkg -i"
check "dpkg -i $deb" dpkg -i "$deb"
check "user hawatch: system, home /var/lib/hawatch, no login" \
  sh -c 'e=$(getent passwd hawatch) && uid=$(echo "$e" | cut -d: -f3) && [ "$uid" -lt 1000 ] && echo "$e" | grep -q ":/var/lib/hawatch:/usr/sbin/nologin$"'
expect_mode /usr/bin/hawatch "755 root:root"
expect_mode /etc/hawatch/hawatch.toml "640 root:hawatch"
expect_mode /var/lib/hawatch "750 hawatch:hawatch"
expect_mode /usr/lib/sysusers.d/hawatch.conf "644 root:root"
for u in hawatch.service hawatch-agent.service hawatch-once.service hawatch-once.timer; do
  expect_mode /usr/lib/systemd/system/$u "644 root:root"
done
check "conffile: /etc/hawatch/hawatch.toml" sh -c "dpkg-query -W -f='\${Conffiles}' hawatch | grep -q '/etc/hawatch/hawatch.toml'"
check "no unit enabled on install" sh -c '! ls /etc/systemd/system/*.wants/hawatch* 2>/dev/null | grep -q .'
check "hawatch --version" sh -c "hawatch --version | grep -qx 'hawatch $(dpkg-deb -f "$deb" Version | sed 's/-[0-9]*$//')'"
check "config check without the webhook says which variable is missing" \
  sh -c 'setpriv --reuid=hawatch --regid=hawatch --clear-groups -- env -i hawatch config check 2>&1 | grep -q "FEISHU_WEBHOOK_URL is not set"'
check "config check as user hawatch with the webhook set" \
  setpriv --reuid=hawatch --regid=hawatch --clear-groups -- env -i \
  FEISHU_WEBHOOK_URL=https://open.feishu.cn/open-apis/bot/v2/hook/00000000-0000-0000-0000-000000000000 \
  hawatch config check --config /etc/hawatch/hawatch.toml
# man finds the pages by name (-w) and renders them; rendered from a copy outside
# the man hierarchy, so man-db keeps no formatted page in /var/cache/man that
# would outlive the purge.
man_renders() { # man_renders NAME PATTERN
  local p tmp rc=0
  p=$(man -w "$1") || return 1
  echo "man -w $1: $p"
  [ "$p" = "/usr/share/man/man1/$1.1.gz" ] || return 1
  tmp=$(mktemp -d)
  cp "$p" "$tmp/"
  MANPAGER=cat MANWIDTH=200 man -l "$tmp/$1.1.gz" | grep -qE -- "$2" || rc=1
  rm -rf "$tmp"
  return $rc
}
check "man hawatch" man_renders hawatch "hawatch +- +Watch HAProxy"
check "man hawatch-watch" man_renders hawatch-watch "--once"
check "man hawatch-agent" man_renders hawatch-agent "--once"
check "bash completion completes subcommands" \
  bash -c 'source /usr/share/bash-completion/completions/hawatch && COMP_WORDS=(hawatch wat) COMP_CWORD=1 && _hawatch hawatch wat hawatch && [[ " ${COMPREPLY[*]} " == *" watch "* ]]'
for u in hawatch.service hawatch-agent.service hawatch-once.service hawatch-once.timer; do
  # --man=no: verify would run `man` on each Documentation= page, and man-db would
  # keep formatted copies in /var/cache/man; man_renders above checks those pages.
  check "systemd-analyze verify $u" sh -c "out=\$(systemd-analyze verify --man=no /usr/lib/systemd/system/$u 2>&1); echo \"\$out\"; ! echo \"\$out\" | grep -q ."
done

echo "== the installed watcher as user hawatch (tests/it/package.rs)"
check "watch as hawatch, group haproxy socket, a delivered event" \
  env HAWATCH_IT_INSTALLED=/usr/bin/hawatch \
  cargo test --locked -q --test it package::the_installed_watcher -- --include-ignored --exact \
  package::the_installed_watcher_runs_as_its_user_reads_the_group_socket_and_delivers

echo "== an upgrade keeps the edited conffile and the state"
echo "# edited by the admin" >> /etc/hawatch/hawatch.toml
touch /var/lib/hawatch/keep
check "dpkg -i again (upgrade path)" dpkg -i "$deb"
check "the edited conffile is kept" grep -q "^# edited by the admin" /etc/hawatch/hawatch.toml
check "the state is kept" test -e /var/lib/hawatch/keep

echo "== remove, then purge"
check "dpkg -r" dpkg -r hawatch
check "remove: the binary is gone" test ! -e /usr/bin/hawatch
check "remove: config and state stay" test -e /etc/hawatch/hawatch.toml -a -e /var/lib/hawatch/keep
check "dpkg -P" dpkg -P hawatch
left=$(find /etc /usr /var/lib /var/cache -name '*hawatch*' 2>/dev/null \
  | grep -v "^$(pwd)" || true)
if [ -z "$left" ]; then ok "purge: nothing named hawatch left in /etc /usr /var/lib /var/cache"; else bad "purge left: $left"; fi
check "purge: the package is unknown to dpkg" sh -c '! dpkg-query -W hawatch 2>/dev/null | grep -q .'

echo "== the portable binary on Debian 11 (glibc 2.31)"
roots=${HAWATCH_ROOTS_DIR:-$HOME/.cache/hawatch/roots}
old=$roots/debian-11
if [ ! -f "$old/.ready" ]; then
  rm -rf "$old"; mkdir -p "$roots"
  echo "debootstrap bullseye into $old" >&2
  debootstrap --variant=minbase bullseye "$old" http://deb.debian.org/debian >"$roots/debian-11.log" 2>&1 \
    || { tail -20 "$roots/debian-11.log"; bad "debootstrap bullseye"; exit 1; }
  touch "$old/.ready"
fi
install -m 755 "$out/hawatch" "$old/usr/local/bin/hawatch"
check "Debian 11: --version, config check, check, watch --once delivering (tests/it/package.rs)" \
  env HAWATCH_IT_OLD_ROOT="$old" \
  cargo test --locked -q --test it package::the_portable_binary -- --include-ignored --exact \
  package::the_portable_binary_runs_on_debian_11_glibc_2_31
rm -f "$old/usr/local/bin/hawatch"

if [ "$failed" -ne 0 ]; then
  echo "test-package.sh: $failed check(s) failed" >&2
  exit 1
fi
echo "test-package.sh: every check passed"
