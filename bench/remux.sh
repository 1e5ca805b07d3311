#!/usr/bin/env bash
# Remux benchmark: `mediakit remux` against `ffmpeg -c copy` on the same
# large file, in the same run: FLV->MP4, FLV->TS, TS->MP4.
#
#   bench/remux.sh [SIZE_MB]        default: 64
#
# Makes a file of at least SIZE_MB by looping testdata/clips/h264_aac.flv
# with ffmpeg -stream_loop -c copy (bench/results/remux-big.flv and its
# MPEG-TS copy), then runs each conversion RUNS times (default 3) per tool,
# alternating, and prints the median wall time, the peak RSS (from
# /usr/bin/time -v when present, else by polling /proc/PID/status) and the
# ratio mediakit/ffmpeg. Outputs are written to $TMPDIR and removed.
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=${1:-64}
runs=${RUNS:-3}
mkdir -p bench/results
bin=$(mktemp -d)
work=$(mktemp -d)
trap 'rm -rf "$bin" "$work"' EXIT
go build -o "$bin/mediakit" ./cmd/mediakit

clip=testdata/clips/h264_aac.flv
big=bench/results/remux-big.flv
bigts=$work/remux-big.ts
want=$((size_mb * 1024 * 1024))
if [ ! -f "$big" ] || [ "$(stat -c %s "$big")" -lt "$want" ]; then
	loops=$(( want / $(stat -c %s "$clip") + 1 ))
	ffmpeg -v error -y -stream_loop "$loops" -i "$clip" -c copy "$big"

fi
[ -f "$bigts" ] || ffmpeg -v error -y -i "$big" -c copy -f mpegts "$bigts"

# measure CMD...: prints "seconds peak_kib" of one run.
measure() {
	if [ -x /usr/bin/time ]; then
		/usr/bin/time -v -o "$work/time" "$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; return 1; }
		local wall rss
		wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time")
		rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time")
		# wall is [h:]m:ss.ss
		echo "$(echo "$wall" | awk -F: '{s=0; for(i=1;i<=NF;i++) s=s*60+$i; print s}') $rss"
	else
		local start end pid peak=0 cur
		start=$(date +%s.%N)
		"$@" >/dev/null 2>"$work/err" & pid=$!
		while kill -0 "$pid" 2>/dev/null; do
			cur=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
			[ "${cur:-0}" -gt "$peak" ] && peak=$cur
			sleep 0.005
		done
		wait "$pid"
		end=$(date +%s.%N)
		echo "$(echo "$end - $start" | bc) $peak"
	fi
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf 'input: %s (%s bytes), %s runs each, median wall time, max peak RSS\n' "$big" "$(stat -c %s "$big")" "$runs"
printf '%-10s %14s %14s %14s %14s %8s %8s\n' case mediakit_s ffmpeg_s mediakit_MiB ffmpeg_MiB time_x rss_x
for c in flv:mp4 flv:ts ts:mp4; do
	in=${c%%:*}; out=${c##*:}
	src=$big; [ "$in" = ts ] && src=$bigts
	: >"$work/mk"; : >"$work/ff"
	for _ in $(seq "$runs"); do
		rm -f "$work/o.$out"
		measure "$bin/mediakit" remux "$src" "$work/o.$out" >>"$work/mk"
		rm -f "$work/o.$out"
		measure ffmpeg -v error -y -i "$src" -c copy "$work/o.$out" >>"$work/ff"
	done
	mk_t=$(cut -d' ' -f1 "$work/mk" | median); ff_t=$(cut -d' ' -f1 "$work/ff" | median)
	mk_r=$(cut -d' ' -f2 "$work/mk" | sort -n | tail -1); ff_r=$(cut -d' ' -f2 "$work/ff" | sort -n | tail -1)
	printf '%-10s %14.3f %14.3f %14.1f %14.1f %8.2f %8.2f\n' "$in->$out" "$mk_t" "$ff_t" \
		"$(echo "$mk_r/1024" | bc -l)" "$(echo "$ff_r/1024" | bc -l)" \
		"$(echo "$mk_t/$ff_t" | bc -l)" "$(echo "$mk_r/$ff_r" | bc -l)"
done
