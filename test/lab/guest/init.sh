#!/bin/sh
# /init of the lab guest (busybox). Loads the modules the host asked for on the kernel command line,
# mounts the 9p shares (the project, the Node.js sysroot, the output directory), runs the guest
# agent from the project and powers off. Everything the scenario does is in the agent, in TypeScript.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root NO_COLOR=1 TMPDIR=/tmp

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /run

say() { echo "lab-init: $*"; }

# value of NAME=... on the kernel command line
cmdline_arg() {
  for word in $(cat /proc/cmdline); do
    case $word in "$1="*) echo "${word#*=}" ;; esac
  done
}

for module in $(cmdline_arg lab.modules | tr ',' ' '); do
  modprobe "$module" || say "modprobe $module failed"
done

mounted=1
for tag in project sysroot out; do
  # the output share is read by the host after power-off: no client-side caching there
  cache=loose; [ $tag = out ] && cache=none
  mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=$cache $tag /mnt/$tag || { say "cannot mount 9p share $tag"; mounted=0; }
done

if [ $mounted = 1 ]; then
  node /mnt/project/dist/test/lab/guest/agent.js /mnt/out/job.json /mnt/out/result.json
  say "agent exited with status $?"
fi
sync
umount /mnt/out 2>/dev/null
say "powering off"
poweroff -f
