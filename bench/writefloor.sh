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
# a "round" field; a table of CPU µs per player write follows, its user
# space part in brackets (for the servers: CPU s over the players' writes,
# taken as one per player per window; check with
# perf stat -e syscalls:sys_enter_writev -p PID when it matters).
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
for r in $(seq "$rounds"); do
	for w in "${windows[@]}"; do
		for mode in writev hdr+sendfile; do
			"$bin/writefloor" -players "$players" -window "$w" -mode "$mode" -round "$r" -out "$out" >/dev/null
		done
		targets=(mediakit-flv)
		[ -n "$srs" ] && [ -x "$srs" ] && targets+=(srs-flv)
		# Every other round the servers in the other order, so that the
		# machine's drift within a round does not favour one.
		if [ $((r % 2)) = 0 ] && [ ${#targets[@]} = 2 ]; then targets=(srs-flv mediakit-flv); fi
		for t in "${targets[@]}"; do
			"$bin/fanout" -target "$t" -readers "$players" -clip "$clip" -mediakit "$bin/mediakit" -srs "${srs:-srs}" \
				-merge-write "$w" -ttfk 5 -round "$r" -out "$out" >/dev/null
		done
	done
done
echo "results: $out" >&2
python3 - "$out" <<'PY'
import json, re, sys
from collections import defaultdict

def seconds(d):
    # A Go duration as the tools print or take it: 100ms, 350ms, 1s, 1m0s.
    unit = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * unit[u] for n, u in re.findall(r"([0-9.]+)(ns|us|µs|ms|s|m|h)", d))

us = defaultdict(list)  # (window in s, what) -> CPU µs per write, by round
user = defaultdict(list)  # the same, user space only
names = {}              # window in s -> as first written
for d in (json.loads(l) for l in open(sys.argv[1])):
    if "mode" in d:  # writefloor
        what, window = "floor, " + d["mode"], d["window"]
        v = d["process_us_per_write"]
        u = d.get("process_user_cpu_seconds", 0) / d["writes"] * 1e6
    else:  # a server through bench/fanout: one write per player per window
        what, window = d["target"], d["batching"]
        writes = d["readers"] * d["seconds"] / seconds(window)
        v = d["cpu_seconds"] / writes * 1e6
        u = d.get("user_cpu_seconds", 0) / writes * 1e6
    names.setdefault(seconds(window), window)
    us[(seconds(window), what)].append(v)
    user[(seconds(window), what)].append(u)
print("| window | what | CPU µs per player write, by round | mean (user) | vs floor (writev) |")
print("|---|---|---|---|---|")
for w, name in names.items():
    floor = us.get((w, "floor, writev"))
    fm = sum(floor) / len(floor) if floor else 0
    for (ww, what), vals in us.items():
        if ww != w:
            continue
        m = sum(vals) / len(vals)
        vs = f"{m / fm:.2f}x" if fm else "-"
        um = sum(user[(ww, what)]) / len(vals)
        print(f"| {name} | {what} | {', '.join(f'{v:.1f}' for v in vals)} | {m:.1f} ({um:.1f}) | {vs} |")
PY
