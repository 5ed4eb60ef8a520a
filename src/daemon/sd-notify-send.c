// One datagram to a unix socket, as sd_notify(3) sends it. Node has no unix datagram sockets in
// core, and the packages that add them (unix-dgram) pass sizeof(struct sockaddr_un) as the address
// length, which cannot reach an abstract socket ("@name"): the kernel compares the whole padded
// name. Here the length is exact for both path and abstract sockets. The datagram leaves from this
// process, so systemd sees the daemon's own PID (a helper like systemd-notify would not be).

#include <errno.h>
#include <node_api.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define THROW_IF(cond, message)                   \
  do {                                            \
    if (cond) {                                   \
      napi_throw_type_error(env, NULL, message);  \
      return NULL;                                \
    }                                             \
  } while (0)

// send(address: string, datagram: Buffer): number; 0 when sent, else the errno.
// address is a path ("/run/systemd/notify") or an abstract name written "@name".
static napi_value send_datagram(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  THROW_IF(napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2,
           "send(address, datagram) takes two arguments");

  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  size_t address_len = 0;
  THROW_IF(napi_get_value_string_utf8(env, argv[0], NULL, 0, &address_len) != napi_ok,
           "address must be a string");
  THROW_IF(address_len == 0 || address_len > sizeof sa.sun_path - 1,
           "address must be 1 to 107 bytes long");
  char address[sizeof sa.sun_path];
  napi_get_value_string_utf8(env, argv[0], address, sizeof address, &address_len);
  memcpy(sa.sun_path, address, address_len);
  if (sa.sun_path[0] == '@') sa.sun_path[0] = '\0';
  socklen_t sa_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + address_len);

  void *data = NULL;
  size_t data_len = 0;
  THROW_IF(napi_get_buffer_info(env, argv[1], &data, &data_len) != napi_ok, "datagram must be a Buffer");

  int err = 0;
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    err = errno;
  } else {
    ssize_t sent;
    // MSG_DONTWAIT: a full receive queue must never stall the daemon's event loop.
    do sent = sendto(fd, data, data_len, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&sa, sa_len);
    while (sent < 0 && errno == EINTR);
    if (sent < 0) err = errno;
    close(fd);
  }

  napi_value result;
  napi_create_int32(env, err, &result);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "send", NAPI_AUTO_LENGTH, send_datagram, NULL, &fn);
  napi_set_named_property(env, exports, "send", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
