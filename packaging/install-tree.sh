#!/bin/bash
# Lays gpu-hookd out below DESTDIR exactly as the packages install it; the Debian script and the
# Arch PKGBUILD both call this, so the two packages cannot drift apart. Needs a built checkout
# (npm ci && npm run build: dist/ and the native addons), npm (for the production node_modules)
# and go-md2man (for the man pages).
#
#   packaging/install-tree.sh DESTDIR [--unitdir DIR]
#     --unitdir DIR  where systemd units go (default /usr/lib/systemd/system; Debian 12: /lib/systemd/system)
set -euo pipefail

die() { echo "install-tree.sh: $*" >&2; exit 1; }

src=$(cd "$(dirname "$0")/.." && pwd)
dest="" unitdir=/usr/lib/systemd/system
while [ $# -gt 0 ]; do
  case $1 in
    --unitdir) [ $# -ge 2 ] || die "--unitdir needs a directory"; unitdir=$2; shift 2 ;;
    -*) die "unknown option $1; usage: install-tree.sh DESTDIR [--unitdir DIR]" ;;
    *) [ -z "$dest" ] || die "one DESTDIR only (got $dest and $1)"; dest=$1; shift ;;
  esac
done
[ -n "$dest" ] || die "no DESTDIR given; usage: install-tree.sh DESTDIR [--unitdir DIR]"
[ "$(cd "$(dirname "$dest")" 2>/dev/null && pwd)/$(basename "$dest")" != / ] || die "refusing to install into / : give a staging directory"
[ -f "$src/dist/src/daemon/main.js" ] || die "$src/dist is not built: run npm ci && npm run build first"
[ -f "$src/dist/src/dbus/org.gpuhookd1.xml" ] || die "$src/dist/src/dbus/org.gpuhookd1.xml is missing: build with npm run build (it copies the contract)"
command -v go-md2man >/dev/null || die "go-md2man is not installed: it renders the man pages (apt install go-md2man / pacman -S go-md2man)"

lib=$dest/usr/lib/gpu-hookd

# The compiled program: the .js of each src/**/*.ts but the simulator and the demo (no tests,
# benchmarks, source maps, nor output left in dist/ by a source that is gone), and the contract XML.
# The product never imports src/sim or src/demo (eslint.config.mjs); they serve the checkout only.
(cd "$src/src" && find . \( -path ./sim -o -path ./demo \) -prune -o -name '*.ts' ! -name '*.d.ts' -print | sed -e 's|^\./||' -e 's|\.ts$|.js|' | sort) |
  while read -r f; do
    [ -f "$src/dist/src/$f" ] || die "dist/src/$f is missing: run npm run build again"
    install -D -m 0644 "$src/dist/src/$f" "$lib/dist/src/$f"
  done
install -m 0644 "$src/dist/src/dbus/org.gpuhookd1.xml" "$lib/dist/src/dbus/"
# The native addons binding.gyp names (node-gyp builds them at npm ci), stripped.
targets=$(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).targets.map((t) => t.target_name).join(" ")' "$src/binding.gyp")
for target in $targets; do
  addon=build/Release/$target.node
  [ -f "$src/$addon" ] || die "$addon is not built: run npm ci (node-gyp builds it; needs python3, make and g++)"
  install -D -m 0644 "$src/$addon" "$lib/$addon"
  strip --strip-unneeded "$lib/$addon"
done

# Production dependencies exactly as package-lock.json pins them; no install scripts run (none of
# them needs one, and the addons above are ours, already built).
install -m 0644 "$src/package.json" "$src/package-lock.json" "$src/.npmrc" "$lib/"
# --omit on the command line replaces .npmrc's omit=optional, so both are named (dbus-next's
# optional usocket would pull in node-gyp and its dependencies).
(cd "$lib" && npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund --prefer-offline --loglevel=error >/dev/null)
rm -f "$lib/package-lock.json" "$lib/.npmrc"
# What npm packages carry for their own development only.
find "$lib/node_modules" \( -name '.npmignore' -o -name '.eslintrc*' -o -name '.git*' -o -name '*~' -o -name '.travis.yml' \) -exec rm -rf {} +

install -D -m 0755 "$src/packaging/bin/gpu-hookd" "$dest/usr/bin/gpu-hookd"
install -D -m 0755 "$src/packaging/bin/gpu-hookctl" "$dest/usr/bin/gpu-hookctl"

# The libvirt hook lives with the program; /etc holds only a link to it, so removing the package
# removes the hook too (a hook left behind would fail every GPU VM's start).
install -D -m 0755 "$src/hooks/qemu" "$lib/hooks/qemu"
install -d "$dest/etc/libvirt/hooks/qemu.d"
ln -sfn /usr/lib/gpu-hookd/hooks/qemu "$dest/etc/libvirt/hooks/qemu.d/gpu-hookd"

install -D -m 0644 "$src/systemd/gpu-hookd.service" "$dest$unitdir/gpu-hookd.service"
install -D -m 0644 "$src/systemd/gpu-hookd.sysusers" "$dest/usr/lib/sysusers.d/gpu-hookd.conf"
install -D -m 0644 "$src/systemd/org.gpuhookd1.conf" "$dest/usr/share/dbus-1/system.d/org.gpuhookd1.conf"
install -D -m 0644 "$src/systemd/org.gpuhookd1.service" "$dest/usr/share/dbus-1/system-services/org.gpuhookd1.service"

install -D -m 0644 "$src/packaging/config.json" "$dest/etc/gpu-hookd/config.json"

for page in gpu-hookd.8 gpu-hookctl.1; do
  section=${page##*.}
  install -d "$dest/usr/share/man/man$section"
  go-md2man -in "$src/docs/man/$page.md" | gzip -9n >"$dest/usr/share/man/man$section/$page.gz"
done
install -D -m 0644 "$src/packaging/completion/gpu-hookctl.bash" "$dest/usr/share/bash-completion/completions/gpu-hookctl"
# journalctl -x's explanations of the transition events; the systemd package's trigger (pacman's hook
# on Arch) updates the catalog database.
install -D -m 0644 "$src/packaging/journal/gpu-hookd.catalog" "$dest/usr/lib/systemd/catalog/gpu-hookd.catalog"

doc=$dest/usr/share/doc/gpu-hookd
install -D -m 0644 "$src/packaging/config.example.json" "$doc/examples/config.json"
install -m 0644 "$src/packaging/prometheus/gpu-hookd.rules.yml" "$doc/examples/"
install -m 0644 "$src/docs/install.md" "$src/docs/config.md" "$src/docs/metrics.md" "$doc/"
