#!/usr/bin/env bash
# Writes a small layout-1 store, as bootport at commit 8235a44 made it, for the migration test
# (test/store/migrate.test.ts). The fixture in fixtures/stores/layout1/ was made with:
#   git worktree add /tmp/bp-8235a44 8235a44 && (cd /tmp/bp-8235a44 && npm ci && npm run build)
#   BOOTPORT=/tmp/bp-8235a44/dist/cli/main.js bash spec/make-layout1-store.sh fixtures/stores/layout1
set -euo pipefail
out=$(realpath -m "${1:?usage: make-layout1-store.sh OUTDIR}")
bp=${BOOTPORT:?set BOOTPORT to the main.js of the bootport that should write the store}
dist=$(dirname "$(dirname "$bp")")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
node --input-type=module -e "
import { fakeBzImageHeader } from '$dist/format/kernel-release.js';
import { writeFileSync } from 'node:fs';
const h = fakeBzImageHeader('6.1.0-13-amd64 (builder@fixture) #1 SMP', 0x4000);
const k = new Uint8Array(20000); k.set(h); for (let i = h.length; i < k.length; i++) k[i] = (i * 7) & 255;
writeFileSync('$work/vmlinuz', k);
writeFileSync('$work/initramfs.img', Buffer.from('initramfs '.repeat(800)));
writeFileSync('$work/rootfs.img', Buffer.from('rootfs image '.repeat(1300)));
writeFileSync('$work/rootfs2.img', Buffer.from('second image '.repeat(700)));
"
rm -rf "$out"
B() { node "$bp" --store "$out" "$@" >/dev/null; }
cd "$work"
B image create name=img1 content=@rootfs.img distro=rocky9 'description=first image'
B image create name=img2 content=@rootfs2.img
B create name=boot1 kernel=@vmlinuz initramfs=@initramfs.img image=img1 'cmdline=console=ttyS0 quiet' 'description=the first'
B create name=boot2 kernel=@vmlinuz initramfs=@rootfs2.img
B -i boot1 clone name=boot3
B -i boot3 update boot_style=roram frozen=true
B node create 'name=n[0-3]'
B node -i n0,n1 set _boot_config=boot1 rack=r1
B node -i n2 set _boot_config=boot3
B node create name=n9 mac=00:11:22:33:44:55
rmdir "$out/staging"
