/*
 * The N-API plumbing that native/pieces.c and native/resident.c share: argument fetching, type
 * checks that throw with a message naming the argument, and a failed call reported by its own
 * message. Static, so each file that includes it has its own copy and nothing is exported.
 */
#ifndef BOOTPORT_NAPI_UTIL_H
#define BOOTPORT_NAPI_UTIL_H

#include <node_api.h>
#include <stdbool.h>
#include <stdio.h>

#define CALL(env, call)                                   \
  do {                                                    \
    if ((call) != napi_ok) {                              \
      throw_last(env);                                    \
      return NULL;                                        \
    }                                                     \
  } while (0)

static inline void throw_last(napi_env env) {
  /* Copied first: every N-API call, napi_is_exception_pending too, replaces the last error. */
  const napi_extended_error_info *info = NULL;
  char message[256] = "N-API call failed";
  if (napi_get_last_error_info(env, &info) == napi_ok && info && info->error_message) snprintf(message, sizeof message, "%s", info->error_message);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_error(env, NULL, message);
}

/*
 * The first n arguments of a call into `argv`. Any not given are undefined, which the checks of
 * each argument then refuse, with a message naming it.
 */
static inline bool args(napi_env env, napi_callback_info info, size_t n, napi_value *argv) {
  size_t argc = n;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok) return true;
  throw_last(env);
  return false;
}

static inline bool typed(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *length, const char *what) {
  bool is = false;
  napi_typedarray_type type;
  napi_value buffer;
  size_t offset;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is || napi_get_typedarray_info(env, v, &type, length, data, &buffer, &offset) != napi_ok || type != want) {
    napi_throw_type_error(env, NULL, what);
    return false;
  }
  return true;
}

#endif
