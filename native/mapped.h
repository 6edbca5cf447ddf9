#ifndef BOOTPORT_MAPPED_H
#define BOOTPORT_MAPPED_H

#include <node_api.h>
#include <stdbool.h>

/* Adds mapRange, mapCut, mapDrop, unmap and populate (native/mapped.c) to the addon's exports. */
bool mapped_define(napi_env env, napi_value exports);

#endif
