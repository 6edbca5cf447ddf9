/*
 * Read-only views of a file's bytes, mapped from the page cache, for work that only reads them
 * (verify's chunk digests and frame checks). Read with pread, every byte was copied once more
 * than hashing needs, and that copy cost more than the hash (bench/README.md, "Measurements
 * behind the design").
 *
 * A mapped file can shrink under its mapping when another process truncates it, and touching a
 * page past the new end raises SIGBUS, which ends the process; so does a page the disk fails to
 * read. The handler here maps a page of zeros in place of such a page of a view and marks the
 * view cut: the code reading it carries on, and asks mapCut before believing anything it read
 * (bootport then reads the bytes again, and reports what the read finds). Faults anywhere else go
 * where they went before. Where this is not Linux, mapRange maps nothing and callers read instead.
 *
 * Beside them, populate makes an ordinary buffer's pages resident in one call, for the buffers
 * bootport fills and keeps.
 */
#define _GNU_SOURCE
#include "mapped.h"

#include "napi-util.h"

#if defined(__linux__)
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* Views alive at once, across all threads: a few per thread. With none free, callers read instead. */
#define SLOTS 256

typedef struct mapping mapping;

/* What the SIGBUS handler reads: atomics only, as a handler may run on any thread at any moment. */
typedef struct {
  /* 0 when free, 1 while being set up, else the mapping's first byte. */
  _Atomic(uintptr_t) start;
  _Atomic(size_t) length;
  atomic_bool cut;
  /* Read and written only on the thread that owns the view. */
  mapping *owner;
} slot;

struct mapping {
  void *base;
  size_t span;
  slot *slot;
  bool unmapped;
};

static slot slots[SLOTS];
static struct sigaction previous;
/* 0: not yet; 1: being installed; 2: installed; 3: could not be. */
static atomic_int installed;
static size_t page;

static void on_bus(int sig, siginfo_t *si, void *context) {
  uintptr_t at = (uintptr_t)si->si_addr;
  /* Only a fault has an address: a SIGBUS sent by kill() is not one, and goes on as before. */
  for (size_t i = 0; si->si_code == BUS_ADRERR && i < SLOTS; i++) {
    uintptr_t s = atomic_load_explicit(&slots[i].start, memory_order_acquire);
    if (s <= 1 || at < s || at - s >= atomic_load_explicit(&slots[i].length, memory_order_relaxed)) continue;
    int saved = errno;
    void *p = mmap((void *)(at & ~(uintptr_t)(page - 1)), page, PROT_READ, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    errno = saved;
    if (p == MAP_FAILED) break;
    atomic_store(&slots[i].cut, true);
    return;
  }
  if (previous.sa_flags & SA_SIGINFO) {
    previous.sa_sigaction(sig, si, context);
    return;
  }
  if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
    previous.sa_handler(sig);
    return;
  }
  /*
   * The default action, restored: a fault happens again on return and ends the process, as it
   * would have. A signal that was sent happens only once, so it is sent again.
   */
  struct sigaction dfl = {0};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(SIGBUS, &dfl, NULL);
  if (si->si_code <= 0) raise(sig);
}

static bool install(void) {
  int state = 0;
  if (atomic_compare_exchange_strong(&installed, &state, 1)) {
    page = (size_t)sysconf(_SC_PAGESIZE);
    struct sigaction sa = {0};
    sa.sa_sigaction = on_bus;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    /* What was there is read first, so the handler never runs before `previous` holds it. */
    bool ok = sigaction(SIGBUS, NULL, &previous) == 0 && sigaction(SIGBUS, &sa, NULL) == 0;
    atomic_store(&installed, ok ? 2 : 3);
  }
  while ((state = atomic_load(&installed)) == 1) sched_yield();
  return state == 2;
}

static slot *claim(void) {
  for (size_t i = 0; i < SLOTS; i++) {
    uintptr_t free_ = 0;
    if (atomic_compare_exchange_strong(&slots[i].start, &free_, 1)) return &slots[i];
  }
  return NULL;
}

static void unmap(mapping *m) {
  if (m->unmapped) return;
  m->unmapped = true;
  /* Freed first, so a later mapping at the same address is never taken for this one. */
  atomic_store_explicit(&m->slot->start, 0, memory_order_release);
  munmap(m->base, m->span);
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)data;
  unmap(hint);
  free(hint);
}

/* The slot of the mapping that holds `p`: only the owning thread asks, about its own views. */
static slot *slot_of(const void *p) {
  uintptr_t at = (uintptr_t)p;
  for (size_t i = 0; i < SLOTS; i++) {
    uintptr_t s = atomic_load_explicit(&slots[i].start, memory_order_acquire);
    if (s > 1 && at >= s && at - s < atomic_load_explicit(&slots[i].length, memory_order_relaxed)) return &slots[i];
  }
  return NULL;
}

static bool whole_number(napi_env env, napi_value v, double max, uint64_t *out, const char *what) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= 0 && d <= max) || d != (double)(uint64_t)d) {
    napi_throw_range_error(env, NULL, what);
    return false;
  }
  *out = (uint64_t)d;
  return true;
}

/*
 * mapRange(fd, offset, length) -> a Uint8Array over those bytes of the open file, or undefined
 * where they cannot be mapped (the caller reads them instead). Bytes past the file's end, then or
 * later, read as zeros and make the view cut.
 */
static napi_value map_range(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!args(env, info, 3, argv)) return NULL;
  uint64_t fd, offset, length;
  if (!whole_number(env, argv[0], 2147483647.0, &fd, "mapRange(fd, offset, length): fd must be a descriptor") ||
      !whole_number(env, argv[1], 9007199254740991.0, &offset, "mapRange: offset must be a whole number") ||
      !whole_number(env, argv[2], 9007199254740991.0, &length, "mapRange: length must be a whole number"))
    return NULL;
  napi_value none;
  CALL(env, napi_get_undefined(env, &none));
  if (length == 0 || !install()) return none;
  uint64_t base = offset & ~(uint64_t)(page - 1);
  size_t lead = (size_t)(offset - base);
  if (length > SIZE_MAX - lead) return none;
  mapping *m = malloc(sizeof *m);
  slot *s = m ? claim() : NULL;
  if (!s) {
    free(m);
    return none;
  }
  size_t span = lead + (size_t)length;
  void *p = mmap(NULL, span, PROT_READ, MAP_SHARED, (int)fd, (off_t)base);
  if (p == MAP_FAILED) {
    atomic_store(&s->start, 0);
    free(m);
    return none;
  }
  *m = (mapping){.base = p, .span = span, .slot = s, .unmapped = false};
  s->owner = m;
  atomic_store(&s->cut, false);
  atomic_store_explicit(&s->length, span, memory_order_relaxed);
  atomic_store_explicit(&s->start, (uintptr_t)p, memory_order_release);
  napi_value buffer, view;
  if (napi_create_external_arraybuffer(env, (uint8_t *)p + lead, (size_t)length, finalize, m, &buffer) != napi_ok) {
    throw_last(env);
    unmap(m);
    free(m);
    return NULL;
  }
  CALL(env, napi_create_typedarray(env, napi_uint8_array, (size_t)length, buffer, 0, &view));
  return view;
}

/* A call's one argument, a view: where it lies, and the slot of its mapping (NULL if it has none). */
typedef struct {
  napi_value view;
  void *data;
  size_t n;
  slot *s;
} view_arg;

/* False once thrown. */
static bool get_view(napi_env env, napi_callback_info info, const char *what, view_arg *v) {
  if (!args(env, info, 1, &v->view) || !typed(env, v->view, napi_uint8_array, &v->data, &v->n, what)) return false;
  v->s = v->n ? slot_of(v->data) : NULL;
  return true;
}

/* The whole pages inside a view, [*lo, *hi); false if there are none. */
static bool whole_pages(const view_arg *v, uintptr_t *lo, uintptr_t *hi) {
  uintptr_t size = (uintptr_t)sysconf(_SC_PAGESIZE);
  *lo = ((uintptr_t)v->data + size - 1) & ~(size - 1);
  *hi = ((uintptr_t)v->data + v->n) & ~(size - 1);
  return *hi > *lo;
}

/* mapCut(view) -> whether any byte of the view's mapping was read past the file's end. */
static napi_value map_cut(napi_env env, napi_callback_info info) {
  view_arg v;
  napi_value r;
  if (!get_view(env, info, "mapCut(view: Uint8Array)", &v)) return NULL;
  CALL(env, napi_get_boolean(env, v.s && atomic_load(&v.s->cut), &r));
  return r;
}

/*
 * unmap(view) -> whether the view's mapping was released now. Its buffer is detached first, so
 * every view of it reads as empty and none can reach the released pages.
 */
static napi_value unmap_js(napi_env env, napi_callback_info info) {
  view_arg v;
  napi_value buffer, r;
  if (!get_view(env, info, "unmap(view: Uint8Array)", &v)) return NULL;
  bool done = v.s && napi_get_typedarray_info(env, v.view, NULL, NULL, NULL, &buffer, NULL) == napi_ok && napi_detach_arraybuffer(env, buffer) == napi_ok;
  if (done) unmap(v.s->owner);
  CALL(env, napi_get_boolean(env, done, &r));
  return r;
}

/*
 * mapDrop(part) -> whether the whole pages inside `part`, a view into a mapping, were let go of.
 * Read again, they come back from the page cache; until then they no longer count in this
 * process's resident memory, which a long read through a mapping would otherwise fill.
 */
static napi_value map_drop(napi_env env, napi_callback_info info) {
  view_arg v;
  napi_value r;
  if (!get_view(env, info, "mapDrop(part: Uint8Array)", &v)) return NULL;
  uintptr_t lo, hi;
  bool done = v.s && whole_pages(&v, &lo, &hi) && madvise((void *)lo, hi - lo, MADV_DONTNEED) == 0;
  CALL(env, napi_get_boolean(env, done, &r));
  return r;
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/*
 * populate(view) -> whether the whole pages inside `view`, ordinary memory (not a mapped file's),
 * were made resident and writable in one call (Linux 5.14 and later). A new buffer's pages are
 * otherwise faulted in one at a time as they are first written, and a page fault is dear where
 * bootport runs under a hypervisor (bench/README.md); the bytes are left as they are.
 */
static napi_value populate(napi_env env, napi_callback_info info) {
  view_arg v;
  napi_value r;
  if (!get_view(env, info, "populate(view: Uint8Array)", &v)) return NULL;
  uintptr_t lo, hi;
  bool done = !v.s && whole_pages(&v, &lo, &hi) && madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE) == 0;
  CALL(env, napi_get_boolean(env, done, &r));
  return r;
}

#else

static napi_value map_range(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value none;
  CALL(env, napi_get_undefined(env, &none));
  return none;
}

static napi_value map_cut(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value r;
  CALL(env, napi_get_boolean(env, false, &r));
  return r;
}

static napi_value unmap_js(napi_env env, napi_callback_info info) { return map_cut(env, info); }

static napi_value map_drop(napi_env env, napi_callback_info info) { return map_cut(env, info); }

static napi_value populate(napi_env env, napi_callback_info info) { return map_cut(env, info); }

#endif

bool mapped_define(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"mapRange", NULL, map_range, NULL, NULL, NULL, napi_default, NULL},
      {"mapCut", NULL, map_cut, NULL, NULL, NULL, napi_default, NULL},
      {"unmap", NULL, unmap_js, NULL, NULL, NULL, napi_default, NULL},
      {"mapDrop", NULL, map_drop, NULL, NULL, NULL, napi_default, NULL},
      {"populate", NULL, populate, NULL, NULL, NULL, napi_default, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof *props, props) == napi_ok;
}
