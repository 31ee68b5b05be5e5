#!/usr/bin/env bash
# Fetches the Linux guest's Debian packages (arm64 kernel, busybox-static) into <dir> with a
# private apt state and cache, and extracts the kernel Image and busybox there. Nothing is
# installed and the host's apt configuration is not touched. Skipped when the assets exist.
#   el2/linux/fetch-guest.sh <dir>
# Produces <dir>/Image (uncompressed arm64 kernel) and <dir>/busybox (static arm64 busybox).
# Exit: 0 ready, 1 the download or extraction failed.
set -euo pipefail
dir=${1:?usage: fetch-guest.sh <dir>}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
if [[ -s $dir/Image && -s $dir/busybox ]]; then
  echo "fetch-guest: assets present in $dir"
  exit 0
fi
for tool in apt-get apt-cache dpkg-deb; do
  command -v "$tool" >/dev/null || { echo "fetch-guest: $tool not found"; exit 1; }
done

apt_dir=$dir/apt
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
apt_opts=(-oAPT::Architecture=arm64 -oAPT::Architectures=arm64
          -oDir::State::Lists="$apt_dir/lists" -oDir::Cache="$apt_dir/cache"
          -oDir::State::Status=/dev/null -oDebug::NoLocking=1 -oAPT::Sandbox::User=root)
echo "fetch-guest: updating the private arm64 package lists"
apt-get "${apt_opts[@]}" -qq update

# The kernel's ABI number changes with every Debian point release: the metapackage names it.
kernel=$(apt-cache "${apt_opts[@]}" depends linux-image-arm64 |
         sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-arm64\(-unsigned\)\?\)$/\1/p' | head -n1)
[[ -n $kernel ]] || { echo "fetch-guest: no kernel behind linux-image-arm64"; exit 1; }
echo "fetch-guest: downloading $kernel and busybox-static"
(cd "$apt_dir" && rm -f ./*.deb && apt-get "${apt_opts[@]}" -qq download "$kernel" busybox-static)

root=$apt_dir/root
rm -rf "$root"
mkdir -p "$root"
for deb in "$apt_dir"/*.deb; do dpkg-deb -x "$deb" "$root"; done
vmlinuz=$(find "$root/boot" -name 'vmlinuz-*' | head -n1)
[[ -n $vmlinuz ]] || { echo "fetch-guest: $kernel holds no /boot/vmlinuz-*"; exit 1; }
# Debian compresses the arm64 Image with gzip; the boot protocol needs it uncompressed.
if [[ $(head -c2 "$vmlinuz" | od -An -tx1 | tr -d ' ') == 1f8b ]]; then
  gzip -dc "$vmlinuz" >"$dir/Image.tmp"
else
  cp "$vmlinuz" "$dir/Image.tmp"
fi
cp "$root/bin/busybox" "$dir/busybox.tmp"
mv "$dir/Image.tmp" "$dir/Image"
mv "$dir/busybox.tmp" "$dir/busybox"
echo "$kernel" >"$dir/kernel-package"
rm -rf "$root" "$apt_dir"/*.deb
echo "fetch-guest: ready: $dir/Image ($kernel), $dir/busybox"
