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

#include "../path-argument.h"

// status(path: string): { errno: number, flags: number }; errno 0 when the ioctl answered, flags
// then holds VFIO_GROUP_FLAGS_* (1 viable, 2 container set).
static napi_value group_status(napi_env env, napi_callback_info info) {
  char path[256];
  if (!path_argument(env, info, path, sizeof path, "status(path) takes the path of a vfio group file, 1 to 254 bytes")) return NULL;

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
