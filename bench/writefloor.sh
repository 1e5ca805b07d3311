#!/usr/bin/env bash
# The floor under the fan-out's CPU: bench/writefloor (a program that only
# writes one shared stream to N loopback players, one writev per player
# per window) alternated with mediakit and SRS serving the same load
# through bench/fanout, so that each server's CPU per write can be read
# against what the kernel's work alone costs, in the same run.
#
#   [SRS=/path/to/objs/srs] [ROUNDS=2] [WINDOWS="100ms 350ms"] bench/writefloor.sh [PLAYERS]
#
# Results are JSON lines in bench/results/writefloor-DATE.jsonl, each with
# a "round" field; a table of CPU µs per player write follows (for the
# servers: CPU s over the players' writes, one per player per window).
set -euo pipefail
cd "$(dirname "$0")/.."
players=${1:-1000}
rounds=${ROUNDS:-2}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "writefloor: ROUNDS=$rounds: want a number of rounds" >&2; exit 2; }
read -ra windows <<<"${WINDOWS:-100ms 350ms}"
srs=${SRS:-$(command -v srs || true)}
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/mediakit" ./cmd/mediakit
go build -o "$bin/fanout" ./bench/fanout
go build -o "$bin/writefloor" ./bench/writefloor
clip=bench/results/clip-2mbps.flv
[ -s "$clip" ] || { echo "writefloor: run bench/fanout.sh once to make $clip" >&2; exit 1; }
out=bench/results/writefloor-$(date -u +%Y%m%dT%H%M%SZ).jsonl
tag() { python3 -c 'import json,sys; d=json.loads(sys.stdin.readlines()[-1]); d["round"]=int(sys.argv[1]); print(json.dumps(d))' "$1" >>"$out"; }
for r in $(seq "$rounds"); do
	for w in "${windows[@]}"; do
		for mode in writev hdr+sendfile; do
			"$bin/writefloor" -players "$players" -window "$w" -mode "$mode" | tag "$r"
		done
		targets=(mediakit-flv)
		[ -n "$srs" ] && [ -x "$srs" ] && targets+=(srs-flv)
		for t in "${targets[@]}"; do
			"$bin/fanout" -target "$t" -readers "$players" -clip "$clip" -mediakit "$bin/mediakit" -srs "${srs:-srs}" \
				-merge-write "$w" -ttfk 5 -out "$bin/run.jsonl" >/dev/null
			tail -1 "$bin/run.jsonl" | tag "$r"
		done
	done
done
echo "results: $out" >&2
python3 - "$out" <<'PY'
import json, sys
from collections import defaultdict
rows = [json.loads(l) for l in open(sys.argv[1])]
us = defaultdict(list)
for d in rows:
    if "mode" in d:  # writefloor
        key, window = "floor, " + d["mode"], d["window"]
        v = d["process_us_per_write"]
    else:
        key, window = d["target"], d["batching"]
        secs = float(window[:-2]) / 1000
        v = d["cpu_seconds"] / (d["readers"] * d["seconds"] / secs) * 1e6
    us[(window, key)].append(v)
print("| window | what | CPU µs per player write, by round | mean | vs floor (writev) |")
print("|---|---|---|---|---|")
for window in dict.fromkeys(w for w, _ in us):
    floor = us.get((window, "floor, writev"))
    fm = sum(floor) / len(floor) if floor else 0
    for (w, key), vals in us.items():
        if w != window:
            continue
        m = sum(vals) / len(vals)
        print(f"| {window} | {key} | {', '.join(f'{v:.1f}' for v in vals)} | {m:.1f} | {m / fm:.2f}x |" if fm else f"| {window} | {key} | | {m:.1f} | - |")
PY
