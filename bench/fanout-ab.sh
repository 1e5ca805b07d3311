#!/usr/bin/env bash
# A/B of two mediakit builds on the fan-out load (bench/fanout: one 2 Mbit/s
# publisher, N players), in alternating rounds so that the shared
# machine's drift hits both alike.
#
#   [TARGET=mediakit-flv|mediakit-rtmp|mediakit-rtsp] \
#     bench/fanout-ab.sh OLD_BINARY NEW_BINARY [ROUNDS] [PLAYERS] [WINDOW]
#
# WINDOW is --merge-write (a Go duration; default 100ms). Prints one line
# per run (build, CPU s, user CPU s, CPU s per GB, dropped players);
# results are JSON lines, each with a "build" field (old or new), in
# bench/results/fanout-ab-DATE.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
old=$1 new=$2 rounds=${3:-2} players=${4:-1000} window=${5:-100ms}
target=${TARGET:-mediakit-flv}
clip=bench/results/clip-2mbps.flv
[ -s "$clip" ] || { echo "fanout-ab: run bench/fanout.sh once to make $clip" >&2; exit 1; }
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/fanout" ./bench/fanout
out=bench/results/fanout-ab-$(date -u +%Y%m%dT%H%M%SZ).jsonl
for _ in $(seq "$rounds"); do
	for b in old new; do
		bin_b=$old
		[ $b = new ] && bin_b=$new
		"$bin/fanout" -target "$target" -readers "$players" -clip "$clip" -mediakit "$bin_b" \
			-merge-write "$window" -ttfk 5 -out "$bin/run.jsonl" >/dev/null
		tail -1 "$bin/run.jsonl" | python3 -c '
import json, sys
d = json.loads(sys.stdin.read())
d["build"] = sys.argv[1]
print(json.dumps(d))
print(sys.argv[1], d["cpu_seconds"], round(d["user_cpu_seconds"], 2), round(d["cpu_s_per_gb"], 3), d["dropped"], file=sys.stderr)
' "$b" >>"$out"
	done
done
echo "results: $out" >&2
