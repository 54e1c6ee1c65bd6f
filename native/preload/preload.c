// continual_next_preload: loads a shared library with RTLD_GLOBAL and never unloads it.
// The loader (ts/native/load.ts) uses it to load the user's libtorch before a prebuilt addon,
// whose DT_NEEDED entries (libtorch.so, libc10.so, ...) then resolve to those already-loaded
// libraries by soname, with no LD_LIBRARY_PATH. It links nothing but libdl, so it always loads.
#include <dlfcn.h>
#include <node_api.h>
#include <string.h>

static napi_value load_global(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[4096];
  size_t len = 0;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARGUMENT", "loadGlobal(path): path must be a string");
    return NULL;
  }
  if (dlopen(path, RTLD_NOW | RTLD_GLOBAL) == NULL) {
    const char* why = dlerror();
    napi_throw_error(env, "ERR_NATIVE_LOAD", why ? why : "dlopen failed");
    return NULL;
  }
  napi_value ok;
  napi_get_boolean(env, 1, &ok);
  return ok;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "loadGlobal", NAPI_AUTO_LENGTH, load_global, NULL, &fn);
  napi_set_named_property(env, exports, "loadGlobal", fn);
  return exports;
}
