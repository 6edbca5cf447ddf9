#!/usr/bin/env bash
# The seed document's workflow, executable: two clusters' head nodes as two embedded stores,
# one boot config exported from A and imported into B, then assigned to B's compute nodes.
# Run by `npm run quickstart` (after the build). Everything lands in ./quickstart/.
set -euo pipefail
MAIN=$(cd "$(dirname "$0")/.." && pwd)/dist/bin/main.js
bootport() { node "$MAIN" "$@"; }
D=${1:-quickstart}
rm -rf "$D" && mkdir -p "$D" && cd "$D"
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

say "bootport sample -C sample --image-size 64M"
bootport sample -C sample --image-size 64M

echo; echo "== Source head node (store A) =="
export BOOTPORT_STORE=$PWD/clusterA
say "bootport image create name=xyzImage content=@sample/rootfs.tar distro=rocky9"
bootport image create name=xyzImage content=@sample/rootfs.tar distro=rocky9
say "bootport create name=xyzBoot kernel=@sample/vmlinuz initramfs=@sample/initramfs.img image=xyzImage cmdline='console=ttyS0 quiet'"
bootport create name=xyzBoot kernel=@sample/vmlinuz initramfs=@sample/initramfs.img image=xyzImage "cmdline=console=ttyS0 quiet"
say "bootport -i xyzBoot ls -l"
bootport -i xyzBoot ls -l
say "bootport -i xyzBoot export"
bootport -i xyzBoot export
say "bootport inspect xyzBoot.export"
bootport inspect xyzBoot.export

echo; echo "== Target head node (store B), which already has an image called xyzImage =="
export BOOTPORT_STORE=$PWD/clusterB
bootport image create name=xyzImage content=@sample/initramfs.img >/dev/null
say "bootport ls -l; bootport image ls -l     # check for name clashes first"
bootport ls -l; bootport image ls -l
say "bootport verify --deep xyzBoot.export"
bootport verify --deep xyzBoot.export | tail -1
say "bootport import xyzBoot.export --dry-run"
bootport import xyzBoot.export --dry-run || echo "(exit $?: the image name clashes, as the dry run says)"
say "bootport import xyzBoot.export --image uniqueImg"
bootport import xyzBoot.export --image uniqueImg
say "bootport import xyzBoot.export --boot-config uniqueBoot --no-recurse"
bootport import xyzBoot.export --boot-config uniqueBoot --no-recurse
say "bootport node create name=n[0-3]"
bootport node create 'name=n[0-3]'
say "bootport node -i n[0-3] set _boot_config=xyzBoot"
bootport node -i 'n[0-3]' set _boot_config=xyzBoot
say "bootport node ls -l"
bootport node ls -l
say "bootport ls -l"
bootport ls -l
say "bootport fsck"
bootport fsck
