#!/usr/bin/env bash
# Many-streams benchmark (issue 14): N RTMP publishers of a 256 kbit/s
# stream, one HTTP-FLV player each, into mediakit with live HLS on demand
# (its default) and from publish, and into SRS and ZLMediaKit with HLS
# on as the references in the same run; then mediakit holding N
# registered streams that receive nothing (openRtpServer ports). Per
# stream: server CPU over 15 s, RSS, goroutines; time to publish and to
# first play under that load; the latency of listing every stream
# (getMediaList, SRS's /api/v1/streams). The joins and the list calls are
# timed from a process of their own, as a viewer or a platform would make
# them, not from the load generator that drives every stream.
#
#   SRS=/path/to/objs/srs ZLM=/path/to/MediaServer bench/streams.sh [STREAMS...]
#                                                     default: 100 200 500 1000
#
# SRS (default: srs on PATH) and ZLMediaKit (ZLM: its MediaServer binary,
# default: MediaServer on PATH) run only where found.
#
# Results are JSON lines in bench/results/streams-DATE.jsonl, the table on
# stdout. Extra load generator flags: STREAMS_FLAGS="-duration 30s".
# CPUS=0/1 runs every server on CPU 0 and the load generator (publishers,
# players, API probe) on CPU 1, so that latencies are not the load
# generator's queueing on the same cores (taskset, util-linux).
set -euo pipefail
cd "$(dirname "$0")/.."
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(100 200 500 1000)
srs=${SRS:-$(command -v srs || true)}
zlm=${ZLM:-$(command -v MediaServer || true)}
mkdir -p bench/results
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/mediakit" ./cmd/mediakit
go build -o "$bin/ingest" ./bench/ingest

clip=bench/results/clip-256kbps.flv
if [ ! -s "$clip" ]; then
	echo "generating $clip (once)" >&2
	ffmpeg -hide_banner -loglevel error -y \
		-f lavfi -i "testsrc2=size=640x360:rate=25" -f lavfi -i "sine=frequency=440:sample_rate=44100" \
		-t 60 -c:v libx264 -preset veryfast -b:v 224k -maxrate 224k -bufsize 224k \
		-g 50 -keyint_min 50 -sc_threshold 0 -pix_fmt yuv420p \
		-c:a aac -b:a 32k -ac 1 -f flv "$clip"
fi
ulimit -n 65536 2>/dev/null || true

out=bench/results/streams-$(date -u +%Y%m%dT%H%M%SZ).jsonl
log=$(mktemp "${TMPDIR:-/tmp}/streams-XXXXXX.log")
pin=()
if [ -n "${CPUS:-}" ]; then
	pin=(taskset -c "${CPUS#*/}")
	STREAMS_FLAGS="${STREAMS_FLAGS:-} -server-cpus ${CPUS%/*}"
fi
run() { "${pin[@]}" "$bin/ingest" -ingest rtmp -clip "$clip" -mediakit "$bin/mediakit" -srs "${srs:-srs}" -zlm "${zlm:-MediaServer}" -out "$out" ${STREAMS_FLAGS:-} "$@" 2>>"$log" >/dev/null ||
	echo "streams: $* failed (see $log)" >&2; }
for n in "${counts[@]}"; do
	run -server mediakit -hls demand -streams "$n" -players 1
	run -server mediakit -hls on -streams "$n" -players 1
	[ -n "$srs" ] && run -server srs -hls on -streams "$n" -players 1
	[ -n "$zlm" ] && run -server zlm -hls on -streams "$n" -players 1
done
run -server mediakit -hls demand -streams 0 -idle "${counts[-1]}"
echo "results: $out" >&2
go run ./bench/ingest/table "$out"
