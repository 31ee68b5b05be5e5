#!/usr/bin/env bash
# Runs the EL2 image under QEMU and checks its verdict.
#   el2/run-qemu.sh <s2pt-el2.elf> [vhe] [scenario...]      (no scenario: all of them)
# `vhe`: EL2 runs as a VHE host (HCR_EL2.E2H = 1, TGE = 1 outside the guest), as Linux/KVM does.
# Environment: S2PT_QEMU (qemu-system-aarch64), S2PT_EL2_CPUS (4), S2PT_EL2_TIMEOUT (seconds, 60),
# S2PT_EL2_IMAGE_EXPECTED (1: the build had a cross compiler, so a missing image is an error).
# Exit: 0 pass, 1 fail, 77 skipped (QEMU or the cross-compiled image is not available).
set -u
image=${1:?usage: run-qemu.sh <image.elf> [scenario...]}
shift
qemu=${S2PT_QEMU:-qemu-system-aarch64}
cpus=${S2PT_EL2_CPUS:-4}
limit=${S2PT_EL2_TIMEOUT:-60}

if ! command -v "$qemu" >/dev/null 2>&1; then
  echo "SKIPPED: $qemu not found (apt-get install qemu-system-arm)"
  exit 77
fi
if [[ ! -f $image ]]; then
  if [[ ${S2PT_EL2_IMAGE_EXPECTED:-0} == 1 ]]; then
    echo "FAIL: $image missing although the cross compiler was found; build it first"
    exit 1
  fi
  echo "SKIPPED: $image not built (aarch64-linux-gnu-g++ missing: apt-get install g++-aarch64-linux-gnu)"
  exit 77
fi

semihosting="enable=on,target=native,arg=s2pt-el2"
for s in "$@"; do semihosting+=",arg=$s"; done

log=$(mktemp)
trap 'rm -f "$log"' EXIT
timeout "$limit" "$qemu" -M virt,virtualization=on -cpu max -smp "$cpus" -m 1G \
  -display none -monitor none -nic none -serial stdio -semihosting-config "$semihosting" \
  -kernel "$image" </dev/null | tr -d '\r' | tee "$log"
status=${PIPESTATUS[0]}

verdict=0
if ((status == 124)); then
  echo "FAIL: QEMU did not finish within ${limit}s"
  verdict=1
elif ((status != 0)); then
  echo "FAIL: the image exited with status $status"
  verdict=1
fi
grep -q '^s2pt-el2: all passed$' "$log" || { echo "FAIL: no 'all passed' line"; verdict=1; }
if grep -q '^FAIL' "$log"; then verdict=1; fi
for s in "$@"; do
  [[ $s == vhe ]] && continue  # a mode, not a scenario
  grep -q "^PASS $s\$" "$log" || { echo "FAIL: no 'PASS $s' line"; verdict=1; }
done
exit $verdict
