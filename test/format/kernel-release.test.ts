import { describe, expect, it } from 'vitest';
import { fakeBzImageHeader, kernelRelease } from '../../src/format/kernel-release.js';

describe('kernel release', () => {
  it('reads the release the way file(1) shows it', () => {
    expect(kernelRelease(fakeBzImageHeader('6.1.0-13-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC'))).toBe('6.1.0-13-amd64');
    expect(kernelRelease(fakeBzImageHeader('5.14.0-362.8.1.el9_3.x86_64 (mockbuild@x) #1'))).toBe('5.14.0-362.8.1.el9_3.x86_64');
  });
  it('returns undefined for anything that is not a bzImage', () => {
    expect(kernelRelease(new Uint8Array(0x1000))).toBeUndefined();
    expect(kernelRelease(new Uint8Array(10))).toBeUndefined();
    const h = fakeBzImageHeader('6.1.0');
    h[0x20e] = 0xff;
    h[0x20f] = 0xff;
    expect(kernelRelease(h)).toBeUndefined();
  });
});
