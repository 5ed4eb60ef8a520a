// Asks the kernel which framebuffer each virtual console's fbcon draws on: FBIOGET_CON2FBMAP on a
// framebuffer device. sysfs does not say it (fbcon's vtconsole only says whether it is bound), and
// with two GPUs "fbcon is bound" does not tell whose framebuffer it is on. Node has no ioctl, hence
// this small addon. The map is fbcon's, not the device's: any /dev/fbN answers for every console.

#include <errno.h>
#include <fcntl.h>
#include <linux/fb.h>
#include <node_api.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "../path-argument.h"

// The kernel's MAX_NR_CONSOLES: consoles are numbered 1 to 63 in the ioctl.
#define CONSOLES 63

// map(path: string): { errno: number, framebuffers: number[] }; errno 0 when the ioctl answered,
// framebuffers then holds the fb number of consoles 1..63 in order (-1: mapped to none).
static napi_value con2fb_map(napi_env env, napi_callback_info info) {
  char path[256];
  if (!path_argument(env, info, path, sizeof path, "map(path) takes the path of a framebuffer device, 1 to 254 bytes")) return NULL;

  int err = 0;
  int map[CONSOLES];
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    err = errno;
  } else {
    for (int i = 0; i < CONSOLES && err == 0; i++) {
      struct fb_con2fbmap c2f = {.console = (__u32)(i + 1)};
      if (ioctl(fd, FBIOGET_CON2FBMAP, &c2f) != 0) err = errno;
      else map[i] = (int)c2f.framebuffer;
    }
    close(fd);
  }

  napi_value result, list;
  napi_create_object(env, &result);
  napi_create_array_with_length(env, err ? 0 : CONSOLES, &list);
  for (int i = 0; err == 0 && i < CONSOLES; i++) napi_set_element(env, list, (uint32_t)i, number(env, map[i]));
  napi_set_named_property(env, result, "errno", number(env, err));
  napi_set_named_property(env, result, "framebuffers", list);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "map", NAPI_AUTO_LENGTH, con2fb_map, NULL, &fn);
  napi_set_named_property(env, exports, "map", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
