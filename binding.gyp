{
  "targets": [
    {
      "target_name": "sd_notify_send",
      "sources": ["src/daemon/sd-notify-send.c"],
      "cflags": ["-Wall", "-Wextra"]
    }
  ]
}
