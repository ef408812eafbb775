#!/usr/bin/env bash
# Builds what an operator installs, into target/package/:
#   hawatch                         the portable binary: x86_64 Linux, glibc 2.17
#                                   or later (linked by cargo-zigbuild against
#                                   glibc 2.17's symbols; release profile:
#                                   stripped, fat LTO, one codegen unit)
#   hawatch-VERSION-x86_64-linux.tar.gz   the same, with man pages, completions,
#                                   the systemd units and the example config
#   hawatch_VERSION-1_amd64.deb     cargo-deb
#   hawatch-VERSION-1.x86_64.rpm    cargo-generate-rpm
# and prints their sizes. Installs its tools if missing (scripts/package-deps.sh).
# What goes where, and why: docs/install.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/package-deps.sh

GLIBC=2.17
TRIPLE=x86_64-unknown-linux-gnu
out=target/package
root=$out/root
version=$(cargo metadata --no-deps --format-version 1 --offline 2>/dev/null \
  | python3 -c 'import json,sys; print([p["version"] for p in json.load(sys.stdin)["packages"] if p["name"]=="hawatch"][0])')

# Not position-independent: keepalived runs `hawatch check` every second or two,
# and a PIE binary spends most of its start applying ~53,000 relocations to
# 1.4 MB of .data.rel.ro (hundreds of copy-on-write page faults) before main.
# The trade (no ASLR for the binary's own image; libraries, heap and stack are
# still randomised), measured: docs/install.md and docs/performance.md.
echo "== cargo zigbuild --release --target $TRIPLE.$GLIBC (non-PIE)"
CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C relocation-model=static" \
  cargo zigbuild --locked --release -p hawatch --bin hawatch --target "$TRIPLE.$GLIBC"
bin=target/$TRIPLE/release/hawatch

# The newest glibc symbol version the binary needs: the promise made above.
newest=$(objdump -T "$bin" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
if [ "$(printf '%s\n%s\n' "$newest" "$GLIBC" | sort -V | tail -1)" != "$GLIBC" ]; then
  echo "package.sh: $bin needs glibc $newest, newer than $GLIBC" >&2
  exit 1
fi

rm -rf "$root"
install -d "$root/usr/bin" "$root/usr/share/man/man1" \
  "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions" \
  "$root/usr/share/fish/vendor_completions.d"
install -m 755 "$bin" "$root/usr/bin/hawatch"
cp "$bin" "$out/hawatch"
# Man pages and completions come from the binary itself (clap_mangen, clap_complete).
"$root/usr/bin/hawatch" man "$root/usr/share/man/man1"
gzip -9n "$root"/usr/share/man/man1/*.1
"$root/usr/bin/hawatch" completions bash > "$root/usr/share/bash-completion/completions/hawatch"
"$root/usr/bin/hawatch" completions zsh > "$root/usr/share/zsh/vendor-completions/_hawatch"
"$root/usr/bin/hawatch" completions fish > "$root/usr/share/fish/vendor_completions.d/hawatch.fish"

echo "== cargo deb"
rm -f "$out"/*.deb "$out"/*.rpm "$out"/*.tar.gz
cargo deb --locked --no-build --no-strip -p hawatch --output "$out/" >/dev/null
echo "== cargo generate-rpm"
cargo generate-rpm -p . -o "$out/" >/dev/null

# The portable archive: the binary, its man pages and completions, the units,
# the sysusers file and the configs, laid out as they install.
tarroot=$out/hawatch-$version-x86_64-linux
rm -rf "$tarroot"
cp -a "$root" "$tarroot"
install -d "$tarroot/usr/lib/systemd/system" "$tarroot/usr/lib/sysusers.d" \
  "$tarroot/etc/hawatch" "$tarroot/usr/share/doc/hawatch/examples"
install -m 644 contrib/systemd/hawatch.service contrib/systemd/hawatch-agent.service \
  contrib/systemd/hawatch-once.service contrib/systemd/hawatch-once.timer "$tarroot/usr/lib/systemd/system/"
install -m 644 contrib/package/sysusers.conf "$tarroot/usr/lib/sysusers.d/hawatch.conf"
install -m 640 contrib/package/hawatch.toml "$tarroot/etc/hawatch/hawatch.toml"
install -m 644 examples/hawatch.toml "$tarroot/usr/share/doc/hawatch/examples/"
install -m 644 README.md "$tarroot/usr/share/doc/hawatch/"
tar -C "$out" --owner=0 --group=0 --sort=name -czf "$tarroot.tar.gz" "$(basename "$tarroot")"
rm -rf "$tarroot"

echo "== built (glibc $newest or later; sizes in bytes)"
for f in "$out/hawatch" "$out"/*.tar.gz "$out"/*.deb "$out"/*.rpm; do
  stat -c '%s %n' "$f" | awk '{ printf "%10d  %6.1f MB  %s\n", $1, $1 / 1048576, $2 }'
done
