/*
 * bootport's native addon. Mostly its piece engine, which cuts content into the delta chunker's
 * pieces and hashes them, the work behind every chunk index. In JS each piece cost a native call
 * for its BLAKE3, and one piece alone fills only a few of the SIMD kernel's lanes; here the
 * chunks, short last chunks and parent nodes of a block's pieces go through the kernel together
 * (piece_digests). The cut rule and its gear table come
 * from JS (src/format/cdc.ts), so there is one definition of where a piece ends. It also tells JS
 * where a buffer lies, so that staged files can be written around the page cache (O_DIRECT), and
 * (native/resident.c) makes the buffers it fills and keeps resident at once.
 */
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blake3/blake3.h"
#include "blake3/blake3_impl.h"
#include "resident.h"
#include "napi-util.h"

typedef struct {
  uint32_t gear[256];
  size_t min, avg, max;
  uint32_t mask_small, mask_large;
} chunker;

/* Pieces longer than this are hashed one at a time; the chunker's own never are. */
#define LANE_CHUNKS 16

/*
 * The gear hash from `h` over d[i..end), returning one past the first byte after which none of
 * `mask`'s bits are set, or 0 with `h` brought to `end`. Four bytes a step: each of the step's
 * four hashes is h shifted plus a sum of its table words that does not depend on h, so the chain
 * through h is one shift and one add per four bytes rather than per byte. The hashes, and so the
 * cuts, are exactly the byte loop's: the shifts wrap the same way in 32 bits.
 */
static size_t scan(const uint32_t *gear, const uint8_t *d, size_t i, size_t end, uint32_t mask, uint32_t *hp) {
  uint32_t h = *hp;
  for (; i + 4 <= end; i += 4) {
    uint32_t x1 = gear[d[i]];
    uint32_t x2 = (x1 << 1) + gear[d[i + 1]];
    uint32_t x3 = (x2 << 1) + gear[d[i + 2]];
    uint32_t x4 = (x3 << 1) + gear[d[i + 3]];
    uint32_t h1 = (h << 1) + x1, h2 = (h << 2) + x2, h3 = (h << 3) + x3, h4 = (h << 4) + x4;
    if (!(h1 & mask)) return i + 1;
    if (!(h2 & mask)) return i + 2;
    if (!(h3 & mask)) return i + 3;
    if (!(h4 & mask)) return i + 4;
    h = h4;
  }
  for (; i < end; i++) {
    h = (h << 1) + gear[d[i]];
    if (!(h & mask)) return i + 1;
  }
  *hp = h;
  return 0;
}

static size_t cut_length(const chunker *c, const uint8_t *d, size_t n) {
  if (n > c->max) n = c->max;
  if (n <= c->min) return n;
  size_t normal_end = n < c->avg ? n : c->avg;
  uint32_t h = 0;
  size_t cut = scan(c->gear, d, c->min, normal_end, c->mask_small, &h);
  if (!cut) cut = scan(c->gear, d, normal_end, n, c->mask_large, &h);
  return cut ? cut : n;
}

static void store_cv(uint8_t out[32], const uint32_t cv[8]) {
  for (int i = 0; i < 8; i++) {
    out[4 * i] = (uint8_t)cv[i];
    out[4 * i + 1] = (uint8_t)(cv[i] >> 8);
    out[4 * i + 2] = (uint8_t)(cv[i] >> 16);
    out[4 * i + 3] = (uint8_t)(cv[i] >> 24);
  }
}

/* The last chunk of a piece when it is not whole (or the piece's only chunk): what pass 2 hashes. */
typedef struct {
  const uint8_t *p;
  uint8_t *dest;
  uint32_t len;
  uint16_t key;
  uint8_t counter, extra;
} tail;

/* Tails are grouped by chunk counter and count of blocks before the last: 16 of each at most. */
#define TAIL_KEYS (LANE_CHUNKS * (BLAKE3_CHUNK_LEN / BLAKE3_BLOCK_LEN))

/* The most nodes one batch of pieces can give a SIMD pass: every pair of a piece's whole chunks. */
#define PER_PIECE (LANE_CHUNKS / 2)

/* Working space for piece_digests, kept between calls: one per thread (per N-API environment). */
typedef struct {
  size_t cap;
  uint8_t (*cvs)[32];
  const uint8_t **ptrs;
  size_t *which;
  size_t *starts;
  uint8_t *lane_out;
  uint32_t *lens;
  tail *tails;
  uint32_t *order;
  uint8_t *level;
} scratch;

static void scratch_free(scratch *s) {
  free(s->cvs);
  free(s->ptrs);
  free(s->which);
  free(s->starts);
  free(s->lane_out);
  free(s->lens);
  free(s->tails);
  free(s->order);
  free(s->level);
  memset(s, 0, sizeof *s);
}

/* Room for n pieces; 0, or -1 if out of memory. Grown, never shrunk: a block's count is bounded. */
static int scratch_fit(scratch *s, size_t n) {
  if (n <= s->cap) return 0;
  scratch_free(s);
  s->cvs = malloc(n * LANE_CHUNKS * 32);
  s->ptrs = malloc(n * PER_PIECE * sizeof *s->ptrs);
  s->which = malloc(n * PER_PIECE * sizeof *s->which);
  s->starts = malloc(n * sizeof *s->starts);
  s->lane_out = malloc(n * PER_PIECE * 32);
  s->lens = malloc(n * sizeof *s->lens);
  s->tails = malloc(n * sizeof *s->tails);
  s->order = malloc(n * sizeof *s->order);
  s->level = malloc(n);
  if (!s->cvs || !s->ptrs || !s->which || !s->starts || !s->lane_out || !s->lens || !s->tails || !s->order || !s->level) {
    scratch_free(s);
    return -1;
  }
  s->cap = n;
  return 0;
}

static void load_cv(uint32_t cv[8], const uint8_t in[32]) {
  for (int i = 0; i < 8; i++) cv[i] = load32(in + 4 * i);
}

/*
 * Pass 2: the tails. The whole blocks of tails that share a chunk counter and a block count go
 * through blake3_hash_many together, stopping short of CHUNK_END; each tail's last block, the
 * only one that may be short, then finishes it alone.
 */
static void hash_tails(scratch *s, size_t count) {
  size_t start[TAIL_KEYS + 1] = {0};
  for (size_t t = 0; t < count; t++) {
    tail *x = &s->tails[t];
    size_t before = x->len ? (x->len - 1) / BLAKE3_BLOCK_LEN : 0;
    x->key = (uint16_t)(x->counter * (BLAKE3_CHUNK_LEN / BLAKE3_BLOCK_LEN) + before);
    start[x->key + 1]++;
  }
  for (size_t k = 0; k < TAIL_KEYS; k++) start[k + 1] += start[k];
  size_t fill[TAIL_KEYS];
  memcpy(fill, start, sizeof fill);
  for (size_t t = 0; t < count; t++) s->order[fill[s->tails[t].key]++] = (uint32_t)t;
  for (size_t k = 0; k < TAIL_KEYS; k++) {
    size_t from = start[k], n = start[k + 1] - from;
    if (!n) continue;
    size_t before = k % (BLAKE3_CHUNK_LEN / BLAKE3_BLOCK_LEN);
    uint64_t counter = k / (BLAKE3_CHUNK_LEN / BLAKE3_BLOCK_LEN);
    if (before) {
      for (size_t q = 0; q < n; q++) s->ptrs[q] = s->tails[s->order[from + q]].p;
      blake3_hash_many(s->ptrs, n, before, IV, counter, false, 0, CHUNK_START, 0, s->lane_out);
    }
    for (size_t q = 0; q < n; q++) {
      const tail *x = &s->tails[s->order[from + q]];
      uint32_t cv[8];
      if (before) load_cv(cv, s->lane_out + q * 32);
      else memcpy(cv, IV, sizeof cv);
      size_t last = x->len - before * BLAKE3_BLOCK_LEN;
      uint8_t block[BLAKE3_BLOCK_LEN] = {0};
      memcpy(block, x->p + before * BLAKE3_BLOCK_LEN, last);
      blake3_compress_in_place(cv, block, (uint8_t)last, counter, (before ? 0 : CHUNK_START) | CHUNK_END | x->extra);
      store_cv(x->dest, cv);
    }
  }
}

/*
 * Pass 3: the trees over the chunks' values of every piece of 2 to 16 chunks, a level at a time.
 * Pairing left to right and carrying an odd last node up unchanged builds BLAKE3's tree (a left
 * subtree of the largest power of two of chunks that leaves at least one). The nodes of a level
 * go through blake3_hash_many together, its roots in a call of their own with ROOT.
 */
static void hash_trees(scratch *s, const uint32_t *lens, size_t n, uint8_t *out) {
  uint8_t (*cvs)[32] = s->cvs;
  for (size_t i = 0; i < n; i++) {
    size_t len = lens[i];
    s->level[i] = len > BLAKE3_CHUNK_LEN && len <= LANE_CHUNKS * BLAKE3_CHUNK_LEN ? (uint8_t)((len + BLAKE3_CHUNK_LEN - 1) / BLAKE3_CHUNK_LEN) : 0;
  }
  for (bool more = true; more;) {
    more = false;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
      size_t m = s->level[i];
      if (m < 3) continue;
      for (size_t j = 0; j < m / 2; j++) {
        s->ptrs[k] = cvs[i * LANE_CHUNKS + 2 * j];
        s->which[k++] = i * LANE_CHUNKS + j;
      }
    }
    if (k) blake3_hash_many(s->ptrs, k, 1, IV, 0, false, PARENT, 0, 0, s->lane_out);
    for (size_t q = 0; q < k; q++) memcpy(cvs[s->which[q]], s->lane_out + q * 32, 32);
    k = 0;
    for (size_t i = 0; i < n; i++) {
      size_t m = s->level[i];
      if (m == 2) {
        s->ptrs[k] = cvs[i * LANE_CHUNKS];
        s->which[k++] = i;
        s->level[i] = 0;
      } else if (m >= 3) {
        if (m & 1) memcpy(cvs[i * LANE_CHUNKS + m / 2], cvs[i * LANE_CHUNKS + m - 1], 32);
        s->level[i] = (uint8_t)((m + 1) / 2);
        more = true;
      }
    }
    if (k) blake3_hash_many(s->ptrs, k, 1, IV, 0, false, PARENT | ROOT, 0, 0, s->lane_out);
    for (size_t q = 0; q < k; q++) memcpy(out + s->which[q] * 32, s->lane_out + q * 32, 32);
  }
}

/*
 * The BLAKE3 of each of n pieces that lie one after another from `data`, in three passes that
 * put nearly every compression in a SIMD lane beside those of other pieces: one piece alone fills
 * few lanes, and its short last chunk and its parents would be compressed one block at a time.
 * Pass 1 hashes the j-th whole chunk of every piece in one blake3_hash_many call per j, with the
 * counter j they all share; then hash_tails and hash_trees. Returns 0, or -1 if out of memory.
 */
static int piece_digests(scratch *s, const uint8_t *data, const uint32_t *lens, size_t n, uint8_t *out) {
  if (scratch_fit(s, n)) return -1;
  uint8_t (*cvs)[32] = s->cvs;
  size_t at = 0;
  for (size_t i = 0; i < n; i++) {
    s->starts[i] = at;
    at += lens[i];
  }
  for (size_t j = 0; j < LANE_CHUNKS; j++) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
      size_t len = lens[i];
      /* Whole, and not the root: a piece of one chunk is finished with the ROOT flag as a tail. */
      if (len > BLAKE3_CHUNK_LEN && len <= LANE_CHUNKS * BLAKE3_CHUNK_LEN && (j + 1) * BLAKE3_CHUNK_LEN <= len) {
        s->ptrs[k] = data + s->starts[i] + j * BLAKE3_CHUNK_LEN;
        s->which[k++] = i;
      }
    }
    if (!k) break;
    blake3_hash_many(s->ptrs, k, BLAKE3_CHUNK_LEN / BLAKE3_BLOCK_LEN, IV, j, false, 0, CHUNK_START, CHUNK_END, s->lane_out);
    for (size_t q = 0; q < k; q++) memcpy(cvs[s->which[q] * LANE_CHUNKS + j], s->lane_out + q * 32, 32);
  }
  size_t tails = 0;
  for (size_t i = 0; i < n; i++) {
    size_t len = lens[i];
    const uint8_t *p = data + s->starts[i];
    if (len <= BLAKE3_CHUNK_LEN) {
      s->tails[tails++] = (tail){.p = p, .dest = out + i * 32, .len = (uint32_t)len, .counter = 0, .extra = ROOT};
    } else if (len > LANE_CHUNKS * BLAKE3_CHUNK_LEN) {
      blake3_hasher h;
      blake3_hasher_init(&h);
      blake3_hasher_update(&h, p, len);
      blake3_hasher_finalize(&h, out + i * 32, 32);
    } else {
      size_t chunks = (len + BLAKE3_CHUNK_LEN - 1) / BLAKE3_CHUNK_LEN;
      size_t last = len - (chunks - 1) * BLAKE3_CHUNK_LEN;
      if (last < BLAKE3_CHUNK_LEN)
        s->tails[tails++] = (tail){.p = p + (chunks - 1) * BLAKE3_CHUNK_LEN, .dest = cvs[i * LANE_CHUNKS + chunks - 1], .len = (uint32_t)last, .counter = (uint8_t)(chunks - 1), .extra = 0};
    }
  }
  hash_tails(s, tails);
  hash_trees(s, lens, n, out);
  return 0;
}

/*
 * A content's BLAKE3 from whole subtrees hashed elsewhere. `subtree_pair` is what the hasher's
 * update does with a whole aligned subtree: the chaining values of its two halves, not yet merged,
 * since the subtree may turn out to be the root. `tree_push` then does to a hasher what that
 * update would have done with the subtree's bytes, pushing the two halves in order.
 */
static bool whole_subtree(size_t len, uint64_t chunk) {
  size_t chunks = len / BLAKE3_CHUNK_LEN;
  return len % BLAKE3_CHUNK_LEN == 0 && chunks >= 2 && !(chunks & (chunks - 1)) && chunk % chunks == 0;
}

static void subtree_pair(const uint8_t *data, size_t len, uint64_t chunk, uint8_t out[64]) {
  blake3_hasher h;
  blake3_hasher_init(&h);
  h.chunk.chunk_counter = chunk;
  /* A whole aligned subtree goes to the kernels in one piece and leaves just its two halves. */
  blake3_hasher_update(&h, data, len);
  memcpy(out, h.cv_stack, 64);
}

static void push_cv(blake3_hasher *h, const uint8_t cv[32], uint64_t chunk) {
  /* The lazy merge of blake3.c: entries beyond one per 1-bit of the count so far are parents. */
  size_t keep = 0;
  for (uint64_t c = chunk; c; c &= c - 1) keep++;
  while (h->cv_stack_len > keep) {
    uint8_t *node = &h->cv_stack[(h->cv_stack_len - 2) * BLAKE3_OUT_LEN];
    uint32_t cv_words[8];
    memcpy(cv_words, h->key, sizeof cv_words);
    blake3_compress_in_place(cv_words, node, BLAKE3_BLOCK_LEN, 0, h->chunk.flags | PARENT);
    store_cv(node, cv_words);
    h->cv_stack_len -= 1;
  }
  memcpy(&h->cv_stack[h->cv_stack_len * BLAKE3_OUT_LEN], cv, BLAKE3_OUT_LEN);
  h->cv_stack_len += 1;
}

/* Whether the hasher is exactly `chunk` whole chunks in, so that a subtree can follow. */
static bool tree_at(const blake3_hasher *h, uint64_t chunk) {
  return h->chunk.chunk_counter == chunk && h->chunk.buf_len == 0 && h->chunk.blocks_compressed == 0;
}

static void tree_push(blake3_hasher *h, const uint8_t pair[64], uint64_t chunk, uint64_t chunks) {
  push_cv(h, pair, chunk);
  push_cv(h, pair + 32, chunk + chunks / 2);
  h->chunk.chunk_counter = chunk + chunks;
}

/* ---- N-API ---- */

/* What each thread (each N-API environment) keeps: its chunker, once configured, and its scratch. */
typedef struct {
  bool configured;
  chunker c;
  scratch s;
} instance;

static void finalize_instance(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  scratch_free(&((instance *)data)->s);
  free(data);
}

static instance *instance_of(napi_env env) {
  void *i = NULL;
  napi_get_instance_data(env, &i);
  if (!i) napi_throw_error(env, NULL, "the piece engine did not initialize");
  return i;
}

static bool is_pow2(size_t n) { return n && !(n & (n - 1)); }

/* configure(gear: Uint32Array(256), min, avg, max): the chunker of src/format/cdc.ts. */
static napi_value configure(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!args(env, info, 4, argv)) return NULL;
  instance *in = instance_of(env);
  if (!in) return NULL;
  void *gear;
  size_t gear_len;
  if (!typed(env, argv[0], napi_uint32_array, &gear, &gear_len, "configure(gear: Uint32Array, min, avg, max)")) return NULL;
  uint32_t p[3];
  for (int i = 0; i < 3; i++) CALL(env, napi_get_value_uint32(env, argv[i + 1], &p[i]));
  if (gear_len != 256 || !is_pow2(p[1]) || p[1] < 256 || !(p[0] < p[1] && p[1] < p[2])) {
    napi_throw_range_error(env, NULL, "a chunker needs 256 gear words and min < avg < max, avg a power of two of at least 256");
    return NULL;
  }
  chunker *c = &in->c;
  memcpy(c->gear, gear, sizeof c->gear);
  c->min = p[0];
  c->avg = p[1];
  c->max = p[2];
  unsigned bits = 0;
  while ((1u << bits) < p[1]) bits++;
  c->mask_small = 0xffffffffu << (32 - (bits + 2));
  c->mask_large = 0xffffffffu << (32 - (bits - 2));
  in->configured = true;
  return NULL;
}

/*
 * candidates(data: Uint8Array, lookahead, cuts: Uint32Array, digests: Uint8Array) -> count:
 * cuts pieces from data's first byte while more than `lookahead` bytes remain, writing each
 * piece's end into `cuts` and its BLAKE3 into `digests`.
 */
static napi_value candidates(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!args(env, info, 4, argv)) return NULL;
  instance *in = instance_of(env);
  if (!in) return NULL;
  if (!in->configured) {
    napi_throw_error(env, NULL, "the piece engine was not given its chunker: call configure() first");
    return NULL;
  }
  const chunker *c = &in->c;
  void *data, *cuts, *digests;
  size_t n, ncuts, ndigests;
  uint32_t lookahead;
  if (!typed(env, argv[0], napi_uint8_array, &data, &n, "candidates(data: Uint8Array, lookahead, cuts: Uint32Array, digests: Uint8Array)") ||
      !typed(env, argv[2], napi_uint32_array, &cuts, &ncuts, "cuts must be a Uint32Array") || !typed(env, argv[3], napi_uint8_array, &digests, &ndigests, "digests must be a Uint8Array"))
    return NULL;
  CALL(env, napi_get_value_uint32(env, argv[1], &lookahead));
  if (n > UINT32_MAX) {
    napi_throw_range_error(env, NULL, "a block to cut must be under 4 GiB");
    return NULL;
  }
  size_t k = 0, at = 0;
  uint32_t *ends = cuts;
  while (n - at > lookahead) {
    if (k >= ncuts || (k + 1) * 32 > ndigests) {
      napi_throw_range_error(env, NULL, "cuts or digests too small for the block's pieces");
      return NULL;
    }
    at += cut_length(c, (const uint8_t *)data + at, n - at);
    ends[k++] = (uint32_t)at;
  }
  if (scratch_fit(&in->s, k)) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  uint32_t *lens = in->s.lens;
  for (size_t i = 0; i < k; i++) lens[i] = ends[i] - (i ? ends[i - 1] : 0);
  if (piece_digests(&in->s, data, lens, k, digests)) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  napi_value count;
  CALL(env, napi_create_uint32(env, (uint32_t)k, &count));
  return count;
}

/* digests(data: Uint8Array, lengths: Uint32Array, out: Uint8Array): the BLAKE3 of each piece. */
static napi_value digests(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!args(env, info, 3, argv)) return NULL;
  void *data, *lens, *out;
  size_t n, nlens, nout;
  if (!typed(env, argv[0], napi_uint8_array, &data, &n, "digests(data: Uint8Array, lengths: Uint32Array, out: Uint8Array)") ||
      !typed(env, argv[1], napi_uint32_array, &lens, &nlens, "lengths must be a Uint32Array") || !typed(env, argv[2], napi_uint8_array, &out, &nout, "out must be a Uint8Array"))
    return NULL;
  size_t total = 0;
  for (size_t i = 0; i < nlens; i++) total += ((const uint32_t *)lens)[i];
  if (total > n || nout < nlens * 32) {
    napi_throw_range_error(env, NULL, "the pieces' lengths add up to more than the data, or out is too small");
    return NULL;
  }
  instance *in = instance_of(env);
  if (!in) return NULL;
  if (piece_digests(&in->s, data, lens, nlens, out)) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  return NULL;
}

/* alignment(view: TypedArray) -> the address of its first byte modulo 4096, for O_DIRECT writes. */
static napi_value alignment(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!args(env, info, 1, argv)) return NULL;
  void *data;
  size_t n;
  if (!typed(env, argv[0], napi_uint8_array, &data, &n, "alignment(view: Uint8Array)")) return NULL;
  napi_value r;
  CALL(env, napi_create_uint32(env, (uint32_t)((uintptr_t)data & 4095), &r));
  return r;
}

/* A chunk counter from JS: a whole number below 2^53. */
static bool chunk_arg(napi_env env, napi_value v, uint64_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= 0 && d <= 9007199254740991.0) || d != (double)(uint64_t)d) {
    napi_throw_range_error(env, NULL, "a chunk counter must be a whole number");
    return false;
  }
  *out = (uint64_t)d;
  return true;
}

/* subtree(data: Uint8Array, chunk, out: Uint8Array(64)) -> whether data is a whole aligned subtree, whose pair is then in out. */
static napi_value subtree(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!args(env, info, 3, argv)) return NULL;
  void *data, *out;
  size_t n, nout;
  uint64_t chunk;
  if (!typed(env, argv[0], napi_uint8_array, &data, &n, "subtree(data: Uint8Array, chunk, out: Uint8Array)") || !chunk_arg(env, argv[1], &chunk) ||
      !typed(env, argv[2], napi_uint8_array, &out, &nout, "out must be a Uint8Array"))
    return NULL;
  if (nout < 64) {
    napi_throw_range_error(env, NULL, "out must hold 64 bytes");
    return NULL;
  }
  bool whole = whole_subtree(n, chunk);
  if (whole) subtree_pair(data, n, chunk, out);
  napi_value r;
  CALL(env, napi_get_boolean(env, whole, &r));
  return r;
}

/* A hasher's state kept in a JS buffer: the struct holds no pointers, so it may live there. */
static blake3_hasher *tree_state(napi_env env, napi_value v) {
  void *p;
  size_t n;
  if (!typed(env, v, napi_uint8_array, &p, &n, "a tree hasher's state must be a Uint8Array")) return NULL;
  if (n < sizeof(blake3_hasher) || (uintptr_t)p % _Alignof(blake3_hasher)) {
    napi_throw_range_error(env, NULL, "a tree hasher's state is too small or misaligned");
    return NULL;
  }
  return p;
}

/* treeInit(state: Uint8Array) */
static napi_value tree_init(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!args(env, info, 1, argv)) return NULL;
  blake3_hasher *h = tree_state(env, argv[0]);
  if (h) blake3_hasher_init(h);
  return NULL;
}

/* treePush(state, pair: Uint8Array(64), chunk, chunks) -> false, changing nothing, unless the hasher is at `chunk` and the subtree is whole and aligned. */
static napi_value tree_push_js(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!args(env, info, 4, argv)) return NULL;
  blake3_hasher *h = tree_state(env, argv[0]);
  void *pair;
  size_t npair;
  uint64_t chunk, chunks;
  if (!h || !typed(env, argv[1], napi_uint8_array, &pair, &npair, "pair must be a Uint8Array") || !chunk_arg(env, argv[2], &chunk) || !chunk_arg(env, argv[3], &chunks))
    return NULL;
  bool ok = npair >= 64 && chunks <= SIZE_MAX / BLAKE3_CHUNK_LEN && whole_subtree((size_t)chunks * BLAKE3_CHUNK_LEN, chunk) && tree_at(h, chunk);
  if (ok) tree_push(h, pair, chunk, chunks);
  napi_value r;
  CALL(env, napi_get_boolean(env, ok, &r));
  return r;
}

/* treeUpdate(state, data: Uint8Array) */
static napi_value tree_update(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!args(env, info, 2, argv)) return NULL;
  blake3_hasher *h = tree_state(env, argv[0]);
  void *data;
  size_t n;
  if (!h || !typed(env, argv[1], napi_uint8_array, &data, &n, "treeUpdate(state, data: Uint8Array)")) return NULL;
  blake3_hasher_update(h, data, n);
  return NULL;
}

/* treeDigest(state, out: Uint8Array(32)) */
static napi_value tree_digest(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!args(env, info, 2, argv)) return NULL;
  blake3_hasher *h = tree_state(env, argv[0]);
  void *out;
  size_t n;
  if (!h || !typed(env, argv[1], napi_uint8_array, &out, &n, "treeDigest(state, out: Uint8Array)")) return NULL;
  if (n < 32) {
    napi_throw_range_error(env, NULL, "out must hold 32 bytes");
    return NULL;
  }
  blake3_hasher_finalize(h, out, 32);
  return NULL;
}

NAPI_MODULE_INIT() {
  instance *in = calloc(1, sizeof *in);
  if (!in || napi_set_instance_data(env, in, finalize_instance, NULL) != napi_ok) {
    free(in);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  napi_property_descriptor props[] = {
      {"configure", NULL, configure, NULL, NULL, NULL, napi_default, NULL},
      {"candidates", NULL, candidates, NULL, NULL, NULL, napi_default, NULL},
      {"digests", NULL, digests, NULL, NULL, NULL, napi_default, NULL},
      {"alignment", NULL, alignment, NULL, NULL, NULL, napi_default, NULL},
      {"subtree", NULL, subtree, NULL, NULL, NULL, napi_default, NULL},
      {"treeInit", NULL, tree_init, NULL, NULL, NULL, napi_default, NULL},
      {"treePush", NULL, tree_push_js, NULL, NULL, NULL, napi_default, NULL},
      {"treeUpdate", NULL, tree_update, NULL, NULL, NULL, napi_default, NULL},
      {"treeDigest", NULL, tree_digest, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value state_bytes;
  if (napi_create_uint32(env, (uint32_t)sizeof(blake3_hasher), &state_bytes) != napi_ok || napi_set_named_property(env, exports, "treeStateBytes", state_bytes) != napi_ok) return NULL;
  if (napi_define_properties(env, exports, sizeof props / sizeof *props, props) != napi_ok || !resident_define(env, exports)) return NULL;
  return exports;
}
