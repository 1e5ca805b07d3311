#!/usr/bin/env bash
# Ingest benchmark: N concurrent 1 Mbit/s streams into mediakit, as
# GB28181-style MPEG-PS over RTP (openRtpServer ports, UDP) and, as the
# reference measured in the same run, over RTMP; server CPU per ingested
# gigabit.
#
#   bench/ingest.sh [STREAMS...]        default: 50 200
#
# Makes a 40 s 1 Mbit/s H.264 + AAC clip once (bench/results/clip-1mbps.flv).
# Results are JSON lines in bench/results/ingest-DATE.jsonl; the senders'
# and the server's messages go to a log file in $TMPDIR, named at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
streams=("$@")
[ ${#streams[@]} -gt 0 ] || streams=(50 200)
mkdir -p bench/results
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/mediakit" ./cmd/mediakit
go build -o "$bin/ingest" ./bench/ingest

clip=bench/results/clip-1mbps.flv
if [ ! -s "$clip" ]; then
	echo "generating $clip (once)" >&2
	ffmpeg -hide_banner -loglevel error -y \
		-f lavfi -i "testsrc2=size=1280x720:rate=25" -f lavfi -i "sine=frequency=440:sample_rate=44100" \
		-t 40 -c:v libx264 -preset veryfast -b:v 950k -maxrate 950k -bufsize 950k \
		-g 50 -keyint_min 50 -sc_threshold 0 -pix_fmt yuv420p \
		-c:a aac -b:a 64k -ac 2 -f flv "$clip"
fi

out=bench/results/ingest-$(date -u +%Y%m%dT%H%M%SZ).jsonl
log=$(mktemp "${TMPDIR:-/tmp}/ingest-XXXXXX.log")
for n in "${streams[@]}"; do
	# Alternate, so drift on a shared machine hits both alike.
	for ingest in rtp rtmp rtp rtmp; do
		"$bin/ingest" -ingest "$ingest" -streams "$n" -clip "$clip" -mediakit "$bin/mediakit" \
			-out "$out" ${INGEST_FLAGS:-} 2>>"$log" ||
			echo "ingest: $ingest with $n streams failed (see $log)" >&2
	done
done
echo "results: $out, messages: $log" >&2
cat "$out"
