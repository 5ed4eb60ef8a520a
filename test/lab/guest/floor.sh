#!/bin/sh
# The floor of bench/lab-bench: the bare sysfs writes of a group move and the waits for the kernel
# to finish them, with nothing else (no discovery, checks, journal or records).
# Usage: floor.sh detach GROUP FUNCTION=DRIVER...  move each FUNCTION from DRIVER to vfio-pci, wait for /dev/vfio/GROUP
#        floor.sh attach FUNCTION=DRIVER...        give each FUNCTION back to DRIVER
#        floor.sh handoff                        nothing: times the go/done hand-off alone
# It says "ready" once started and waits for a line on stdin before the first write, then says "done"
# after the last wait: the caller times from its "go" to "done", so starting the shell (~20 ms under
# TCG, and as noisy) is no part of the floor.
pci=/sys/bus/pci

# wait (bounded) until FUNCTION is bound to DRIVER: some drivers bind asynchronously. The kernel
# links the function into the driver's directory as it binds; testing that link is a shell builtin,
# where $(readlink ...) would fork a subshell (~7 ms under TCG) that is no part of the kernel's work.
wait_driver() {
  n=0
  while :; do
    [ -e $pci/drivers/$2/$1 ] && return 0
    n=$((n + 1))
    [ $n -gt 20000 ] && { echo "floor: $1 never bound to $2" >&2; exit 1; }
  done
}

action=$1
shift
echo ready
read -r go || exit 1
case $action in
  detach)
    group=$1
    shift
    for pair in "$@"; do
      f=${pair%%=*}
      echo vfio-pci > $pci/devices/$f/driver_override || exit 1
      echo $f > $pci/drivers/${pair#*=}/unbind || exit 1
      echo $f > $pci/drivers_probe || exit 1
      wait_driver $f vfio-pci
    done
    n=0
    while [ ! -e /dev/vfio/$group ]; do
      n=$((n + 1))
      [ $n -gt 20000 ] && { echo "floor: /dev/vfio/$group never appeared" >&2; exit 1; }
    done
    ;;
  attach)
    for pair in "$@"; do
      f=${pair%%=*}
      echo > $pci/devices/$f/driver_override || exit 1
      echo $f > $pci/drivers/vfio-pci/unbind || exit 1
      echo $f > $pci/drivers_probe || exit 1
      wait_driver $f "${pair#*=}"
    done
    ;;
  handoff) ;;
  *) echo "floor: unknown action $action" >&2; exit 2 ;;
esac
echo done
