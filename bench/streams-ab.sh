#!/usr/bin/env bash
# A/B of two mediakit builds on the many-streams load (bench/ingest), in
# alternating rounds so that the shared machine's drift hits both alike,
# with SRS as a third server when SRS is set.
#
#   [SRS=/path/to/objs/srs] [INGEST=rtmp|rtp] [HLS=demand|on] [CPUS=0/1] \
#     bench/streams-ab.sh OLD_BINARY NEW_BINARY [ROUNDS] [STREAMS]
#
# CPUS=0/1 runs the servers on CPU 0 and the load generator on CPU 1, as
# in bench/streams.sh, so that the players' delay is the server's.
#
# Prints one line per run (server, CPU s over 15 s, RSS MB, list p99 ms,
# players' delay p50 and p99 ms);
# results are JSON lines in bench/results/streams-ab-DATE.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
old=$1 new=$2 rounds=${3:-2} streams=${4:-200}
ingest=${INGEST:-rtmp} hls=${HLS:-demand}
clip=bench/results/clip-256kbps.flv
[ -s "$clip" ] || { echo "streams-ab: run bench/streams.sh once to make $clip" >&2; exit 1; }
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/ingest" ./bench/ingest
out=bench/results/streams-ab-$(date -u +%Y%m%dT%H%M%SZ).jsonl
pin=() flags=()
if [ -n "${CPUS:-}" ]; then
	pin=(taskset -c "${CPUS#*/}")
	flags=(-server-cpus "${CPUS%/*}")
fi
run() { "${pin[@]}" "$bin/ingest" -clip "$clip" -streams "$streams" -players 1 -out "$out" "${flags[@]}" "$@" >/dev/null; }
show() { tail -1 "$out" | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); print(sys.argv[1], d["cpu_seconds"], round(d["rss_mb"]), d.get("api_p99_ms"), d.get("delay_p50_ms"), d.get("delay_p99_ms"))' "$1"; }
for _ in $(seq "$rounds"); do
	for b in old new; do
		bin_b=$old; [ $b = new ] && bin_b=$new
		run -ingest "$ingest" -mediakit "$bin_b" -hls "$hls"
		show "$b"
	done
	if [ -n "${SRS:-}" ] && [ "$ingest" = rtmp ]; then
		run -ingest rtmp -server srs -srs "$SRS" -hls on
		show srs
	fi
done
echo "results: $out" >&2
