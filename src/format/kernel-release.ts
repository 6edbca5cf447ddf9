/**
 * The release string of a Linux x86 bzImage, found the way file(1) finds it: the setup header
 * ("HdrS" at 0x202) holds at 0x20e a pointer, relative to 0x200, to a NUL-terminated version
 * string such as "6.1.0-13-amd64 (debian-kernel@lists.debian.org) #1 SMP ...". The release is
 * its first word. Anything else (another architecture, a corrupt header) yields undefined.
 */
export const KERNEL_HEADER_BYTES = 0x10000;

export function kernelRelease(head: Uint8Array): string | undefined {
  if (head.length < 0x210) return undefined;
  if (head[0x202] !== 0x48 || head[0x203] !== 0x64 || head[0x204] !== 0x72 || head[0x205] !== 0x53) return undefined;
  const ptr = (head[0x20e] ?? 0) | ((head[0x20f] ?? 0) << 8);
  if (ptr === 0) return undefined;
  const start = 0x200 + ptr;
  let end = start;
  while (end < head.length && end - start < 256 && head[end] !== 0) end++;
  if (end >= head.length || head[end] !== 0) return undefined;
  let s = '';
  for (let i = start; i < end; i++) {
    const c = head[i] ?? 0;
    if (c < 0x20 || c > 0x7e) return undefined;
    s += String.fromCharCode(c);
  }
  const release = s.split(' ')[0];
  return release && /^[0-9][A-Za-z0-9._+~-]*$/.test(release) ? release : undefined;
}

/** Builds the smallest header kernelRelease recognises; used for sample data and tests. */
export function fakeBzImageHeader(version: string, size = 0x4000): Uint8Array {
  const b = new Uint8Array(Math.max(size, 0x400 + version.length + 1));
  b[0x1fe] = 0x55;
  b[0x1ff] = 0xaa;
  b.set([0x48, 0x64, 0x72, 0x53], 0x202);
  b[0x206] = 0x0f; // boot protocol 2.15
  b[0x207] = 0x02;
  b[0x211] = 0x01; // loadflags: LOADED_HIGH, which file(1) reports as bzImage
  const ptr = 0x200;
  b[0x20e] = ptr & 0xff;
  b[0x20f] = ptr >> 8;
  for (let i = 0; i < version.length; i++) b[0x200 + ptr + i] = version.charCodeAt(i);
  return b;
}
