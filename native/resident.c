/*
 * populate(view): an ordinary buffer's pages made resident in one call, for the buffers bootport
 * fills and keeps (a pool's chunks, a worker's scratch, a delta's output blocks). A new buffer's
 * pages are otherwise faulted in one at a time as they are first written, and a page fault is
 * dear where bootport runs under a hypervisor (bench/README.md, "Measurements behind the design").
 */
#define _GNU_SOURCE
#include "resident.h"

#include "napi-util.h"

#if defined(__linux__)
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/*
 * populate(view) -> whether the whole pages inside `view` were made resident and writable in one
 * call (Linux 5.14 and later); the bytes are left as they are. Pages the view only partly covers
 * are left alone: they may hold another buffer's bytes, and a fault costs one page.
 */
static napi_value populate(napi_env env, napi_callback_info info) {
  napi_value view, r;
  void *data;
  size_t n;
  if (!args(env, info, 1, &view) || !typed(env, view, napi_uint8_array, &data, &n, "populate(view: Uint8Array)")) return NULL;
  uintptr_t size = (uintptr_t)sysconf(_SC_PAGESIZE);
  uintptr_t lo = ((uintptr_t)data + size - 1) & ~(size - 1);
  uintptr_t hi = ((uintptr_t)data + n) & ~(size - 1);
  bool done = hi > lo && madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE) == 0;
  CALL(env, napi_get_boolean(env, done, &r));
  return r;
}

#else

static napi_value populate(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value r;
  CALL(env, napi_get_boolean(env, false, &r));
  return r;
}

#endif

bool resident_define(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"populate", NULL, populate, NULL, NULL, NULL, napi_default, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof *props, props) == napi_ok;
}
