#!/usr/bin/env bash
# Recording and live HLS costs: server CPU with K published 2 Mbit/s streams
# and nothing else (baseline), with live HLS muxing, MP4 recording, HLS
# recording, and with N HLS viewers per stream.
#
#   bench/record.sh [STREAMS [VIEWERS_PER_STREAM]]     default: 4 100
#
# Uses the clip of bench/fanout.sh (made there once). Results are JSON lines
# in bench/results/record-DATE.jsonl; the table is printed on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
streams=${1:-4}
viewers=${2:-100}
clip=bench/results/clip-2mbps.flv
[ -s "$clip" ] || { echo "run bench/fanout.sh once to make $clip" >&2; exit 1; }
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/mediakit" ./cmd/mediakit
go build -o "$bin/record" ./bench/record
out=bench/results/record-$(date -u +%Y%m%dT%H%M%SZ).jsonl
"$bin/record" -mediakit "$bin/mediakit" -clip "$clip" -streams "$streams" -viewers "$viewers" -out "$out" >/dev/null
echo "results: $out" >&2
python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
base = next(r for r in rows if r["mode"] == "baseline")
live = next((r for r in rows if r["mode"] == "hls-live"), None)
print("| mode | streams | HLS viewers | CPU s | CPU % of a core per stream (above baseline) | per viewer | written or served MB |")
print("|---|---|---|---|---|---|---|")
for r in rows:
    per_stream = per_viewer = "-"
    if r["mode"] != "baseline":
        ref = live if (r["mode"] == "hls-viewers" and live) else base
        extra = r["cpu_seconds"] - ref["cpu_seconds"]
        if r["mode"] == "hls-viewers":
            per_viewer = "%.3f%%" % (100 * extra / r["seconds"] / max(r["viewers"], 1))
        else:
            per_stream = "%.2f%%" % (100 * extra / r["seconds"] / r["streams"])
    mb = r.get("viewer_mb") or r.get("recorded_mb") or 0
    print("| %s | %d | %d | %.2f | %s | %s | %.0f |" % (r["mode"], r["streams"], r["viewers"], r["cpu_seconds"], per_stream, per_viewer, mb))
PY
