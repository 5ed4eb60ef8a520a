#!/bin/bash
# Builds the Debian package from a built checkout with dpkg-deb (no debhelper: the tree comes from
# packaging/install-tree.sh, shared with the Arch package). Prints the .deb's path.
#
#   packaging/debian/build-deb.sh [--out DIR] [--revision N]
#     --out DIR       where the .deb goes (default: dist/deb)
#     --revision N    Debian revision (default 1); a higher one makes an upgrade of the same version
set -euo pipefail

die() { echo "build-deb.sh: $*" >&2; exit 1; }

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
out=$src/dist/deb revision=1
while [ $# -gt 0 ]; do
  case $1 in
    --out) [ $# -ge 2 ] || die "--out needs a directory"; out=$2; shift 2 ;;
    --revision) [[ ${2:-} =~ ^[0-9]+$ ]] || die "--revision needs a number"; revision=$2; shift 2 ;;
    *) die "unknown argument $1; usage: build-deb.sh [--out DIR] [--revision N]" ;;
  esac
done
for tool in dpkg-deb dpkg objdump; do command -v "$tool" >/dev/null || die "$tool is not installed (apt install dpkg-dev binutils)"; done

version="$(node -p 'require(process.argv[1]).version' "$src/package.json")-$revision"
arch=$(dpkg --print-architecture)
stage=$(mktemp -d "${TMPDIR:-/tmp}/gpu-hookd-deb.XXXXXX")
trap 'rm -rf "$stage"' EXIT
root=$stage/root

bash "$src/packaging/install-tree.sh" "$root" --unitdir /lib/systemd/system

doc=$root/usr/share/doc/gpu-hookd
install -m 0644 "$here/copyright" "$doc/copyright"
printf 'gpu-hookd (%s) unstable; urgency=medium\n\n  * Built from the gpu-hookd source tree by packaging/debian/build-deb.sh.\n\n -- gpu-hookd maintainers <maintainers@gpuhookd.org>  %s\n' \
  "$version" "$(date -R -u -d "@${SOURCE_DATE_EPOCH:-$(git -C "$src" log -1 --format=%ct 2>/dev/null || date +%s)}")" |
  gzip -9n >"$doc/changelog.Debian.gz"

# The addons are the only native code: they need the newest glibc symbol version they link against.
libc_min=$(objdump -T "$root"/usr/lib/gpu-hookd/build/Release/*.node | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
[ -n "$libc_min" ] || die "could not read the glibc version the native addons need"

install -d -m 0755 "$root/DEBIAN"
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@LIBC_MIN@/$libc_min/" \
  -e "s/@INSTALLED_SIZE@/$(du -sk --exclude=DEBIAN "$root" | cut -f1)/" "$here/control.in" >"$root/DEBIAN/control"
for script in postinst prerm postrm; do install -m 0755 "$here/$script" "$root/DEBIAN/$script"; done
(cd "$root" && find etc -type f | sed 's|^|/|' | sort) >"$root/DEBIAN/conffiles"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"

mkdir -p "$out"
deb=$out/gpu-hookd_${version}_$arch.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
