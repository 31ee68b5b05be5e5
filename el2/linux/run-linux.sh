#!/usr/bin/env bash
# Boots Debian's arm64 kernel at EL1 on s2pt tables under the EL2 harness (the `linux` mode of
# s2pt-el2.elf) and checks the verdict.
#   el2/linux/run-linux.sh <s2pt-el2.elf> <asset dir> <expect> [option=value...]
# <expect>: `pass` (the guest's memory checkers all passed and it powered off, nothing leaked,
# at least S2PT_LINUX_MIN_MOVED pages moved), or `guest-failure` (a negative control: the run
# must end in a memory-checker mismatch or crash, a guest oops/panic, a guest access outside its
# RAM (the guest ran on garbage) or the hypervisor's watchdog, and in nothing else: not a leak,
# not a hypervisor error, not a QEMU crash). Options go to the harness: strategy=, fwb=, range=,
# control=, migrate=, seed=, watchdog=, stall=, gap= (docs/el2.md, "Linux guest").
# Environment: S2PT_QEMU, S2PT_EL2_IMAGE_EXPECTED, S2PT_LINUX_TIMEOUT (seconds, 150),
# S2PT_LINUX_MIB and S2PT_LINUX_PASSES (the checkers' buffer per CPU and passes; 24, 3),
# S2PT_LINUX_MIN_MOVED (1000), S2PT_LINUX_LOG (keep the console log there).
# Exit: 0 as expected, 1 not, 77 skipped (QEMU, the cross compiler or the guest assets missing).
set -u
image=${1:?usage: run-linux.sh <image.elf> <asset dir> <pass|guest-failure> [option=value...]}
assets=${2:?asset dir}
expect=${3:?pass or guest-failure}
shift 3
here=$(cd "$(dirname "$0")" && pwd)
qemu=${S2PT_QEMU:-qemu-system-aarch64}
limit=${S2PT_LINUX_TIMEOUT:-150}
mib=${S2PT_LINUX_MIB:-24}
passes=${S2PT_LINUX_PASSES:-3}
min_moved=${S2PT_LINUX_MIN_MOVED:-1000}

# The guest layout: el2/src/linux/layout.hpp holds the same numbers.
ram_base=0x80000000
ram_bytes=0x10000000
kernel_addr=0x80200000
dtb_addr=0x87e00000
initrd_addr=0x88000000
bootargs="console=ttyAMA0 earlycon=pl011,0x9000000 panic=-1 oops=panic rdinit=/init s2pt.mib=$mib s2pt.passes=$passes"

command -v "$qemu" >/dev/null 2>&1 || { echo "SKIPPED: $qemu not found (apt-get install qemu-system-arm)"; exit 77; }
if [[ ! -f $image && ${S2PT_EL2_IMAGE_EXPECTED:-0} != 1 ]]; then
  echo "SKIPPED: $image not built (aarch64-linux-gnu-g++ missing: apt-get install g++-aarch64-linux-gnu)"
  exit 77
fi
# One preparation at a time: the tests of the label share the asset directory.
mkdir -p "$assets"
exec 9>"$assets/.lock"
flock 9
"$here/prepare-guest.sh" "$assets" "$qemu" "$ram_base" "$ram_bytes" "$initrd_addr" "$bootargs"
prepared=$?
flock -u 9
((prepared == 0)) || exit "$prepared"
# Assets and tools are there: a missing image is a broken build, not a reason to skip.
[[ -f $image ]] || { echo "FAIL: $image missing although the cross compiler was found; build it first"; exit 1; }

semihosting="enable=on,target=native,arg=s2pt-el2,arg=linux"
for o in "$@"; do semihosting+=",arg=$o"; done
log=${S2PT_LINUX_LOG:-$(mktemp)}
[[ -n ${S2PT_LINUX_LOG:-} ]] || trap 'rm -f "$log"' EXIT
start=$SECONDS
# -cpu max with pauth-impdef: QEMU's cheap pointer-authentication algorithm boots 2-3x faster.
timeout "$limit" "$qemu" -M virt,virtualization=on -cpu max,pauth-impdef=on -smp 3 -m 2G \
  -display none -monitor none -nic none -serial stdio -semihosting-config "$semihosting" \
  -kernel "$image" \
  -device loader,file="$assets/Image",addr=$kernel_addr,force-raw=on \
  -device loader,file="$assets/guest.dtb",addr=$dtb_addr,force-raw=on \
  -device loader,file="$assets/initramfs.cpio.gz",addr=$initrd_addr,force-raw=on \
  </dev/null | tr -d '\r' >"$log"
status=${PIPESTATUS[0]}
wall=$((SECONDS - start))

# What happened, from the console (the guest's and the hypervisor's lines share the UART).
verdict=$(sed -n 's/^linux: verdict \(.*\)$/\1/p' "$log" | tail -n1)
kind=none
if grep -q '^memcheck .*MISMATCH\|^memcheck .*FAILED' "$log"; then
  kind=mismatch
elif grep -q '^s2pt-init: memory checker .* failed' "$log"; then
  kind=checker-crash  # killed (a signal) without reporting a mismatch first
elif grep -q 'Internal error: Oops\|Unable to handle kernel\|Kernel panic\|BUG: \|^Oops' "$log"; then
  kind=oops
elif [[ $verdict == watchdog ]]; then
  kind=watchdog
elif [[ $verdict == stray-fault ]]; then
  kind=wild-access  # the guest reached an IPA outside its RAM: it ran on garbage
fi
echo "---- report (wall ${wall} s, QEMU status $status)"
grep '^s2pt-init:\|^memcheck\|^linux: ' "$log"
init_at=$(sed -n 's/^s2pt-init: .*uptime \([0-9.]*\) s, checking.*/\1/p' "$log" | head -n1)
echo "time to init: ${init_at:-never} s (guest uptime); failure kind: $kind"

fail() {
  echo "FAIL: $*"
  echo "---- last console lines"
  tail -n 40 "$log"
  exit 1
}
((status == 124)) && fail "QEMU did not finish within ${limit}s (the harness watchdog should have ended it)"
[[ -n $verdict ]] || fail "no verdict line from the harness (QEMU status $status)"
grep -q '^linux: .*arena pages leaked 0$' "$log" || fail "table pages leaked"
case $expect in
  pass)
    [[ $verdict == pass && $status == 0 ]] || fail "verdict $verdict ($kind), expected pass"
    [[ $kind == none ]] || fail "the guest reported $kind"
    ok=$(grep -c '^memcheck .*: OK' "$log")
    ((ok == 2)) || fail "$ok memory checkers passed, expected 2"
    moved=$(sed -n 's/^linux: migrations .*pages moved \([0-9]*\),.*/\1/p' "$log")
    ((${moved:-0} >= min_moved)) || fail "only ${moved:-0} pages moved, expected at least $min_moved"
    echo "PASS: $* ($moved pages moved, zero mismatches)"
    ;;
  guest-failure)
    [[ $verdict != pass ]] || fail "the guest passed: the control did not break anything"
    case $kind in
      mismatch | checker-crash | oops | watchdog | wild-access)
        echo "PASS: the control failed as it must: $kind (verdict $verdict)" ;;
      *) fail "the run failed ($verdict) but not with a mismatch, a checker crash, an oops, a wild access or the watchdog" ;;
    esac
    ;;
  *) echo "FAIL: unknown expectation $expect"; exit 1 ;;
esac
