#!/usr/bin/env bash
# Relaying benchmark: CPU per relayed Mbit/s of 50 pull proxies inside
# `mediakit serve` and of `mediakit relay`, against ffmpeg -c copy relays
# (and MediaMTX, when given) of the same 50 streams in the same run; and
# the time a pull proxy takes to be live again once its source is back.
#
#   bench/proxy.sh [cpu] [recovery]        default: both
#
#   MEDIAKIT=/path/to/mediakit   binary to measure (default: go build ./cmd/mediakit)
#   MEDIAMTX=/path/to/mediamtx   adds MediaMTX (50 paths with `source: rtmp://origin/...`)
#   STREAMS=50 DURATION=20s ROUNDS=1   the CPU runs
#   TARGETS=edge,ffmpeg,...      override the CPU targets (see bench/proxy/main.go)
#
# Uses the 1 Mbit/s clip of bench/ingest.sh (made here once if missing).
# Results are JSON lines in bench/results/proxy-DATE.jsonl, the tables on
# stdout, the servers' and relayers' messages under $TMPDIR (named at the
# end).
set -euo pipefail
cd "$(dirname "$0")/.."
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(cpu recovery)
mkdir -p bench/results
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
mediakit=${MEDIAKIT:-}
if [ -z "$mediakit" ]; then
	go build -o "$bin/mediakit" ./cmd/mediakit
	mediakit=$bin/mediakit
fi
go build -o "$bin/proxy" ./bench/proxy

clip=bench/results/clip-1mbps.flv
if [ ! -s "$clip" ]; then
	echo "generating $clip (once)" >&2
	ffmpeg -hide_banner -loglevel error -y \
		-f lavfi -i "testsrc2=size=1280x720:rate=25" -f lavfi -i "sine=frequency=440:sample_rate=44100" \
		-t 40 -c:v libx264 -preset veryfast -b:v 950k -maxrate 950k -bufsize 950k \
		-g 50 -keyint_min 50 -sc_threshold 0 -pix_fmt yuv420p \
		-c:a aac -b:a 64k -ac 2 -f flv "$clip"
fi

out=bench/results/proxy-$(date -u +%Y%m%dT%H%M%SZ).jsonl
log=$(mktemp "${TMPDIR:-/tmp}/proxy-XXXXXX.log")
run() { "$bin/proxy" -mediakit "$mediakit" -clip "$clip" -out "$out" "$@" 2>>"$log" >/dev/null; }

for part in "${parts[@]}"; do
	case $part in
	cpu)
		targets=${TARGETS:-}
		if [ -z "$targets" ]; then
			targets=edge,ffmpeg,edge-hls
			[ -n "${MEDIAMTX:-}" ] && targets+=,mediamtx
			# The relay rows need a binary with `mediakit relay`.
			if "$mediakit" relay --help >/dev/null 2>&1; then
				targets+=,relay,ffmpeg-2dst,relay-2dst,relay-gomaxprocs1
			else
				echo "proxy: $mediakit has no relay command; relay rows skipped" >&2
			fi
		fi
		run -mode cpu -targets "$targets" -streams "${STREAMS:-50}" -duration "${DURATION:-20s}" \
			-rounds "${ROUNDS:-1}" -mediamtx "${MEDIAMTX:-}" ||
			echo "proxy: cpu run failed (see $log)" >&2
		;;
	recovery)
		# A restarted origin (the proxies' retries may find it up before
		# its stream is back, and wait there), then a cut link (the source
		# comes back whole: the retry schedule alone), early in the
		# schedule and once the delay has reached its 10 s cap.
		run -mode recovery -scenario origin -streams 4 -reps 10 -down 2s ||
			echo "proxy: recovery (origin) failed (see $log)" >&2
		run -mode recovery -scenario link -streams 4 -reps 10 -down 1s -down-jitter 3s ||
			echo "proxy: recovery (link, short) failed (see $log)" >&2
		run -mode recovery -scenario link -streams 4 -reps 4 -down 30s -down-jitter 10s ||
			echo "proxy: recovery (link, long) failed (see $log)" >&2
		;;
	*)
		echo "usage: bench/proxy.sh [cpu] [recovery]" >&2
		exit 2
		;;
	esac
done
echo "results: $out, messages: $log" >&2
python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
cpu = [r for r in rows if r["kind"] == "cpu"]
what = {
    "edge": "mediakit serve, {n} addStreamProxy, live HLS off",
    "edge-hls": "mediakit serve, {n} addStreamProxy, live HLS on (default)",
    "mediamtx": "MediaMTX, {n} paths with source: rtmp://...",
    "ffmpeg": "{n} x ffmpeg -i rtmp://origin -c copy -f flv rtmp://sink",
    "relay": "{n} x mediakit relay rtmp://origin rtmp://sink",
    "ffmpeg-2dst": "{n} x ffmpeg ... -f tee (2 destinations)",
    "relay-2dst": "{n} x mediakit relay SRC DST1 DST2",
    "relay-gomaxprocs1": "{n} x GOMAXPROCS=1 mediakit relay rtmp://origin rtmp://sink",
}
if cpu:
    ref = {}
    for r in cpu:
        if r["target"].startswith("ffmpeg"):
            ref.setdefault((r.get("round", 1), r["dests"]), r)
    print("| round | relayer | streams x dests | relayed Mbit/s | relayed / clip rate | relayer CPU s | CPU s per relayed Gbit | vs ffmpeg | with receiving server, CPU s per Gbit | vs ffmpeg | cores | RSS MiB | live at end |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in cpu:
        f = ref.get((r.get("round", 1), r["dests"]))
        vs = "%.2fx" % (r["cpu_s_per_gbit"] / f["cpu_s_per_gbit"]) if f else "-"
        vs2 = "%.2fx" % (r["with_receiver_cpu_s_per_gbit"] / f["with_receiver_cpu_s_per_gbit"]) if f else "-"
        ratio = "%.2f" % (r["relayed_mbps"] / r["nominal_mbps"]) if r.get("nominal_mbps") else "-"
        print("| %d | %s: %s | %d x %d | %.1f | %s%s | %.2f | %.2f | %s | %.2f | %s | %.3f | %.0f | %d |" % (
            r.get("round", 1), r["target"], what.get(r["target"], "").format(n=r["streams"]), r["streams"], r["dests"], r["relayed_mbps"], ratio,
            "" if r.get("steady") else " (not steady)", r["relayer_cpu_s"],
            r["cpu_s_per_gbit"], vs, r["with_receiver_cpu_s_per_gbit"], vs2, r["core_share"], r["relayer_rss_mb"],
            r["live_at_end"]))
    print()
summ = [r for r in rows if r["kind"] == "recovery-summary"]
if summ:
    print("| scenario | source down s | outages x proxies | recovery p50 ms | p90 ms | max ms | not back |")
    print("|---|---|---|---|---|---|---|")
    for r in summ:
        print("| %s | %s | %d x %d | %.0f | %.0f | %.0f | %d |" % (r["scenario"], r["down_s"], r["reps"],
              (r["samples"] + r["missed"]) // max(r["reps"], 1), r["p50_ms"], r["p90_ms"], r["max_ms"], r["missed"]))
PY
