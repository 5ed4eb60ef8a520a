# bash completion for gpu-hookctl(1): verbs, each verb's options, GPU addresses for detach/attach,
# libvirt domain names for doctor and cpu-plan.

_gpu_hookctl_gpus() {
  local dev class
  for dev in /sys/bus/pci/devices/*; do
    read -r class <"$dev/class" 2>/dev/null || continue
    [[ $class == 0x03* ]] && printf '%s\n' "${dev##*/}"
  done
}

_gpu_hookctl() {
  local cur prev verb i
  cur=${COMP_WORDS[COMP_CWORD]}
  prev=${COMP_WORDS[COMP_CWORD - 1]}
  verb=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    [[ ${COMP_WORDS[i]} == -* ]] && continue
    verb=${COMP_WORDS[i]}
    break
  done

  if [[ -z $verb ]]; then
    mapfile -t COMPREPLY < <(compgen -W 'list status monitor detach attach doctor cpu-plan --help' -- "$cur")
    return
  fi

  case $prev in
    --root)
      mapfile -t COMPREPLY < <(compgen -d -- "$cur")
      return ;;
    --xml | --config)
      mapfile -t COMPREPLY < <(compgen -f -- "$cur")
      return ;;
    --bus | --vcpus | --housekeeping)
      return ;;
  esac

  local options
  case $verb in
    list) options='--root --json --help' ;;
    status | monitor) options='--bus --json --help' ;;
    detach | attach) options='--bus --help' ;;
    doctor) options='--root --xml --config --bus --json --help' ;;
    cpu-plan) options='--vcpus --housekeeping --root --config --help' ;;
    *) return ;;
  esac
  if [[ $cur == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$options" -- "$cur")
    return
  fi
  case $verb in
    detach | attach) mapfile -t COMPREPLY < <(compgen -W "$(_gpu_hookctl_gpus)" -- "$cur") ;;
    doctor | cpu-plan) mapfile -t COMPREPLY < <(compgen -W "$(virsh --readonly list --all --name 2>/dev/null)" -- "$cur") ;;
  esac
}

complete -F _gpu_hookctl gpu-hookctl
