{
  "targets": [
    {
      "target_name": "sd_notify_send",
      "sources": ["src/daemon/sd-notify-send.c"],
      "cflags": ["-Wall", "-Wextra"]
    },
    {
      "target_name": "vfio_group_status",
      "sources": ["native/vfio-viability/vfio-group-status.c"],
      "cflags": ["-Wall", "-Wextra"]
    },
    {
      "target_name": "fbcon_map",
      "sources": ["native/fbcon-map/fbcon-map.c"],
      "cflags": ["-Wall", "-Wextra"]
    }
  ]
}
