#!/usr/bin/env bash
# WebRTC fan-out: server CPU per WHEP viewer of one 2 Mbit/s 720p30 H.264
# stream without B-frames (MediaMTX refuses to send B-frames over WebRTC;
# bench/results/clip-2mbps-nob.flv, made here once), mediakit against
# MediaMTX in the same run, one after the other, ROUNDS times.
#
#   bench/webrtc.sh [VIEWERS...]          default: 20 50
#
#   MEDIAMTX=/path/to/mediamtx   MediaMTX (default: mediamtx on PATH; skipped when missing)
#   ROUNDS=2 DURATION=20s        rounds per count, measurement window
#
# The viewers are pion peers inside the load generator (their CPU is
# reported apart, viewers_cpu_s); only the server's CPU is compared.
# Results: JSON lines in bench/results/webrtc-DATE.jsonl and a table.
set -euo pipefail
cd "$(dirname "$0")/.."
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(20 50)
mkdir -p bench/results
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/mediakit" ./cmd/mediakit
go build -o "$bin/webrtc" ./bench/webrtc
mediamtx=${MEDIAMTX:-$(command -v mediamtx || true)}
targets=(mediakit)
[ -n "$mediamtx" ] && [ -x "$mediamtx" ] && targets+=(mediamtx)

clip=bench/results/clip-2mbps-nob.flv
if [ ! -s "$clip" ]; then
	echo "generating $clip (once)" >&2
	ffmpeg -hide_banner -loglevel error -y \
		-f lavfi -i "testsrc2=size=1280x720:rate=30" -f lavfi -i "sine=frequency=440:sample_rate=44100" \
		-t 30 -c:v libx264 -preset veryfast -b:v 1900k -maxrate 1900k -bufsize 1900k \
		-g 60 -keyint_min 60 -sc_threshold 0 -bf 0 -pix_fmt yuv420p \
		-c:a aac -b:a 96k -ac 2 -f flv "$clip"
fi

out=${OUT:-bench/results/webrtc-$(date -u +%Y%m%dT%H%M%SZ).jsonl}
for n in "${counts[@]}"; do
	for ((r = 0; r < ${ROUNDS:-2}; r++)); do
		for t in "${targets[@]}"; do
			"$bin/webrtc" -target "$t" -viewers "$n" -clip "$clip" -mediakit "$bin/mediakit" \
				-mediamtx "${mediamtx:-mediamtx}" -duration "${DURATION:-20s}" -out "$out" >/dev/null ||
				echo "webrtc: $t with $n viewers failed" >&2
		done
	done
done
echo "results: $out"
printf '%-9s %7s %9s %10s %10s %12s %12s %8s\n' target viewers connected cpu_s cpu_s/GB cpu%/viewer pkts/s/view rss_mb
jq -r '[.target, .viewers, .connected, (.server_cpu_s*100|round/100), (.cpu_s_per_gb*100|round/100),
	(.cpu_pct_per_viewer*1000|round/1000), (.packets_per_viewer_s|round), (.rss_mb|round)] | @tsv' "$out" |
	awk -F'\t' '{printf "%-9s %7s %9s %10s %10s %12s %12s %8s\n", $1, $2, $3, $4, $5, $6, $7, $8}'
