/*
 * Checks native/pieces.c's piece hashing against BLAKE3's own incremental hasher, for every piece
 * length up to 40,000 bytes and for pieces side by side: built by pieces.test.ts once with the
 * SIMD kernels and once as the portable code that other platforms get. Prints "ok" or the first
 * length that differs.
 */
#include "../../native/pieces.c"

#include <stdio.h>

int main(void) {
  static uint8_t d[70000];
  uint32_t x = 1;
  for (size_t i = 0; i < sizeof d; i++) {
    x = x * 1664525u + 1013904223u;
    d[i] = (uint8_t)(x >> 24);
  }
  scratch s = {0};
  uint8_t want[32], got[32];
  for (uint32_t len = 0; len <= 40000; len++) {
    blake3_hasher h;
    blake3_hasher_init(&h);
    blake3_hasher_update(&h, d + 7, len);
    blake3_hasher_finalize(&h, want, 32);
    if (piece_digests(&s, d + 7, &len, 1, got) || memcmp(want, got, 32)) {
      printf("a piece of %u bytes differs\n", len);
      return 1;
    }
  }
  uint32_t lens[] = {1024, 5000, 0, 16384, 1, 2048, 3071, 1025, 7, 4096, 9000};
  size_t n = sizeof lens / sizeof *lens;
  uint8_t out[sizeof lens / sizeof *lens * 32];
  if (piece_digests(&s, d, lens, n, out)) return 1;
  size_t at = 0;
  for (size_t i = 0; i < n; i++) {
    blake3_hasher h;
    blake3_hasher_init(&h);
    blake3_hasher_update(&h, d + at, lens[i]);
    blake3_hasher_finalize(&h, want, 32);
    if (memcmp(want, out + i * 32, 32)) {
      printf("piece %zu of a batch differs\n", i);
      return 1;
    }
    at += lens[i];
  }
  scratch_free(&s);
  printf("ok %zu\n", blake3_simd_degree());
  return 0;
}
