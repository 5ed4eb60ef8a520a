// What the project's ioctl addons share: their one argument, the path of a device file, checked and
// copied, and the int32 values they answer with.

#ifndef GPU_HOOKD_PATH_ARGUMENT_H
#define GPU_HOOKD_PATH_ARGUMENT_H

#include <node_api.h>

static napi_value number(napi_env env, int value) {
  napi_value v;
  napi_create_int32(env, value, &v);
  return v;
}

// Copies the call's only argument, a path of 1 to 254 bytes, into `path`; otherwise throws a
// TypeError saying `usage` and returns 0.
static int path_argument(napi_env env, napi_callback_info info, char *path, size_t size, const char *usage) {
  size_t argc = 1;
  napi_value argv[1];
  size_t len = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1 ||
      napi_get_value_string_utf8(env, argv[0], path, size, &len) != napi_ok || len == 0 || len >= size - 1) {
    napi_throw_type_error(env, NULL, usage);
    return 0;
  }
  return 1;
}

#endif
