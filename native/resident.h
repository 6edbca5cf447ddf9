#ifndef BOOTPORT_RESIDENT_H
#define BOOTPORT_RESIDENT_H

#include <node_api.h>
#include <stdbool.h>

/* Adds populate (native/resident.c) to the addon's exports. */
bool resident_define(napi_env env, napi_value exports);

#endif
