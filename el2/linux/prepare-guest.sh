#!/usr/bin/env bash
# Builds what the Linux guest boots from, next to the assets fetch-guest.sh put in <dir>:
#   <dir>/initramfs.cpio.gz  busybox, /init and the memory checker (memcheck.c, static)
#   <dir>/guest.dtb          QEMU's own device tree for the run's machine, edited for the guest
# Rebuilt only when missing or older than their sources. Layout constants: see run-linux.sh.
#   el2/linux/prepare-guest.sh <dir> <qemu> <guest RAM base> <guest RAM bytes> <initrd address>
#                              <bootargs>
# Exit: 0 ready, 77 something needed is missing (named on stdout), 1 a build step failed.
set -euo pipefail
dir=${1:?usage: prepare-guest.sh <dir> <qemu> <ram base> <ram bytes> <initrd> <bootargs>}
qemu=$2 ram_base=$3 ram_bytes=$4 initrd_addr=$5 bootargs=$6
src=$(cd "$(dirname "$0")" && pwd)
[[ -d $dir ]] && dir=$(cd "$dir" && pwd)

skip() { echo "SKIPPED: $*"; exit 77; }
for asset in Image busybox; do
  [[ -s $dir/$asset ]] || skip "$dir/$asset missing (run el2/linux/fetch-guest.sh $dir)"
done
for tool in aarch64-linux-gnu-gcc:gcc-aarch64-linux-gnu cpio:cpio fdtput:device-tree-compiler \
            dtc:device-tree-compiler "$qemu":qemu-system-arm; do
  command -v "${tool%%:*}" >/dev/null || skip "${tool%%:*} not found (apt-get install ${tool#*:})"
done

initramfs=$dir/initramfs.cpio.gz
if [[ ! $initramfs -nt $src/memcheck.c || ! $initramfs -nt $src/init ||
      ! $initramfs -nt $dir/busybox ]]; then
  root=$(mktemp -d "$dir/initramfs.XXXXXX")
  mkdir -p "$root"/{bin,proc,sys,dev}
  cp "$dir/busybox" "$root/bin/busybox"
  aarch64-linux-gnu-gcc -static -O2 -Wall -Wextra -Werror -o "$root/bin/memcheck" "$src/memcheck.c"
  install -m 755 "$src/init" "$root/init"
  (cd "$root" && { find . -print; } | cpio -o -H newc --quiet >"$root.cpio")
  gzip -9 -n <"$root.cpio" >"$initramfs.tmp"
  rm -rf "$root" "$root.cpio"
  mv "$initramfs.tmp" "$initramfs"
fi

dtb=$dir/guest.dtb
stamp="$qemu|$ram_base|$ram_bytes|$initrd_addr|$bootargs|$(stat -c %Y "$initramfs")"
if [[ ! -s $dtb || $(cat "$dtb.stamp" 2>/dev/null) != "$stamp" ]]; then
  # The same machine the run uses (run-linux.sh): 3 CPUs, 2 GiB, GICv2, EL2 on.
  "$qemu" -M virt,virtualization=on,dumpdtb="$dtb.tmp" -cpu max,pauth-impdef=on -smp 3 -m 2G \
    -display none -nic none >/dev/null
  # Only what the guest may touch stays: RAM, the passthrough devices (GIC distributor and CPU
  # interface, PL011, PL031), the timer, the PMU and PSCI. The migrator's CPU is not the guest's.
  for node in $(fdtget -l "$dtb.tmp" /); do
    case $node in
      memory@* | virtio_mmio@* | pcie@* | flash@* | fw-cfg@* | pl061@* | gpio-keys | platform-bus@*)
        fdtput -r "$dtb.tmp" "/$node" ;;
    esac
  done
  for node in $(fdtget -l "$dtb.tmp" /intc@8000000); do fdtput -r "$dtb.tmp" "/intc@8000000/$node"; done
  fdtput -r "$dtb.tmp" /cpus/cpu@2
  if fdtget -l "$dtb.tmp" /cpus | grep -qx cpu-map; then fdtput -r "$dtb.tmp" /cpus/cpu-map; fi
  fdtput -c "$dtb.tmp" "/memory@$(printf %x "$ram_base")"
  fdtput -ts "$dtb.tmp" "/memory@$(printf %x "$ram_base")" device_type memory
  fdtput -tx "$dtb.tmp" "/memory@$(printf %x "$ram_base")" reg 0 "$ram_base" 0 "$ram_bytes"
  size=$(stat -c %s "$initramfs")
  fdtput -tx "$dtb.tmp" /chosen linux,initrd-start 0 "$initrd_addr"
  fdtput -tx "$dtb.tmp" /chosen linux,initrd-end 0 "$(printf 0x%x $((initrd_addr + size)))"
  fdtput -ts "$dtb.tmp" /chosen bootargs "$bootargs"
  mv "$dtb.tmp" "$dtb"
  echo "$stamp" >"$dtb.stamp"
fi
echo "prepare-guest: $initramfs and $dtb ready"
