// Asks the kernel whether an IOMMU group can be given to a VM: VFIO_GROUP_GET_STATUS on
// /dev/vfio/<group>. sysfs cannot say it for sure (KERNEL-FACTS: a group whose driver links all
// read vfio-pci can still be non-viable), and Node has no ioctl, hence this small addon.
//
// The group file is single-open: while a VM's QEMU holds it, open() fails with EBUSY, which is an
// answer too ("in use"). The file is held for one ioctl only, so a VM starting at that very moment
// is kept out for microseconds at most.

#include <errno.h>
#include <fcntl.h>
#include <linux/vfio.h>
#include <node_api.h>
#include <sys/ioctl.h>
#include <unistd.h>

static napi_value number(napi_env env, int value) {
  napi_value v;
  napi_create_int32(env, value, &v);
  return v;
}

// status(path: string): { errno: number, flags: number }; errno 0 when the ioctl answered, flags
// then holds VFIO_GROUP_FLAGS_* (1 viable, 2 container set).
static napi_value group_status(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  char path[256];
  size_t len = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1 ||
      napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) != napi_ok || len == 0 ||
      len >= sizeof path - 1) {
    napi_throw_type_error(env, NULL, "status(path) takes the path of a vfio group file, 1 to 254 bytes");
    return NULL;
  }

  int err = 0;
  struct vfio_group_status status = {.argsz = sizeof status};
  int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    err = errno;
  } else {
    if (ioctl(fd, VFIO_GROUP_GET_STATUS, &status) != 0) err = errno;
    close(fd);
  }

  napi_value result;
  napi_create_object(env, &result);
  napi_set_named_property(env, result, "errno", number(env, err));
  napi_set_named_property(env, result, "flags", number(env, err ? 0 : (int)status.flags));
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "status", NAPI_AUTO_LENGTH, group_status, NULL, &fn);
  napi_set_named_property(env, exports, "status", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
