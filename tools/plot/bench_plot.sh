#!/usr/bin/env bash
# Draws `s2pt bench --csv` output: unmap time against VM size, one line per strategy (host time
# solid, modelled hardware time dashed), log-log, one panel with FWB and TLBI range, one without.
# Usage: tools/plot/bench_plot.sh BENCH.csv OUT.svg [BACKING]   (BACKING: 4K by default)
set -euo pipefail
if [[ $# -lt 2 ]]; then
  echo "usage: $0 BENCH.csv OUT.svg [BACKING]" >&2
  exit 2
fi
csv=$1 out=$2 backing=${3:-4K}
command -v gnuplot >/dev/null || { echo "$0: gnuplot is not installed (apt-get install gnuplot-nox)" >&2; exit 3; }
[[ -r $csv ]] || { echo "$0: cannot read $csv" >&2; exit 2; }
head -1 "$csv" | grep -q '^strategy,granule,backing,vm_bytes,fwb,tlbi_range,host_ns,modeled_ns' ||
  { echo "$0: $csv is not s2pt bench CSV" >&2; exit 2; }

data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
# One file per strategy and feature set: GiB, host ms, modelled ms; sorted by size.
awk -F, -v backing="$backing" -v dir="$data" 'NR > 1 && $3 == backing && $5 == $6 {
  file = dir "/" $1 "_" ($5 == "true" ? "on" : "off") ".dat"
  printf "%.6f %.6f %.6f\n", $4 / 1073741824, $7 / 1e6, $8 / 1e6 > file
}' "$csv"
for f in "$data"/*.dat; do sort -g -o "$f" "$f"; done
ls "$data"/*.dat >/dev/null 2>&1 || { echo "$0: no $backing rows with FWB and range both on or both off" >&2; exit 2; }

plots() {  # $1: on|off
  local first=1 color=1
  for strategy in per_entry deferred fast; do
    local f="$data/${strategy}_$1.dat"
    [[ -s $f ]] || continue
    ((first)) || printf ', '
    first=0
    printf "'%s' using 1:2 with linespoints lw 2 lc %d title '%s host', " "$f" "$color" "$strategy"
    printf "'%s' using 1:3 with lines dt 2 lw 1 lc %d title '%s modelled'" "$f" "$color" "$strategy"
    color=$((color + 1))
  done
}

gnuplot <<GP
set terminal svg size 1300,460 font 'sans,11' background rgb 'white' noenhanced
set output '$out'
set logscale xy
set xlabel 'VM size (GiB, $backing-backed)'
set ylabel 'unmap time (ms)'
set grid
set key outside right top vertical Left reverse font 'sans,9'
set autoscale xfix
set multiplot layout 1,2 title 's2pt unmap: host time (solid) and modelled hardware time (dashed)'
set title 'FWB and TLBI range'
plot $(plots on)
set title 'no FWB, no TLBI range'
plot $(plots off)
unset multiplot
GP
echo "wrote $out"
