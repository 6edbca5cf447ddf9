/*
 * Checks native/pieces.c's piece hashing against BLAKE3's own incremental hasher, for every piece
 * length up to 40,000 bytes and for pieces side by side: built by pieces.test.ts once with the
 * SIMD kernels and once as the portable code that other platforms get; and a content's digest put
 * together from subtrees (the tree functions) against the hasher over the whole. Prints "ok" or
 * the first thing that differs.
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
  /* A content's digest from its whole aligned subtrees, pushed in order, then the rest. */
  static uint8_t big[5 * 16384 + 777];
  for (size_t i = 0; i < sizeof big; i++) big[i] = d[(i * 7) % sizeof d];
  blake3_hasher whole;
  blake3_hasher_init(&whole);
  blake3_hasher_update(&whole, big, sizeof big);
  blake3_hasher_finalize(&whole, want, 32);
  for (size_t block = 2048; block <= 16384; block *= 2) {
    blake3_hasher h;
    blake3_hasher_init(&h);
    size_t k = 0;
    for (; (k + 1) * block <= sizeof big; k++) {
      uint8_t pair[64];
      uint64_t chunk = k * block / BLAKE3_CHUNK_LEN;
      if (!whole_subtree(block, chunk) || !tree_at(&h, chunk)) {
        printf("a subtree of %zu bytes was refused\n", block);
        return 1;
      }
      subtree_pair(big + k * block, block, chunk, pair);
      tree_push(&h, pair, chunk, block / BLAKE3_CHUNK_LEN);
    }
    blake3_hasher_update(&h, big + k * block, sizeof big - k * block);
    blake3_hasher_finalize(&h, got, 32);
    if (memcmp(want, got, 32)) {
      printf("the content from subtrees of %zu bytes differs\n", block);
      return 1;
    }
  }
  printf("ok %zu\n", blake3_simd_degree());
  return 0;
}
