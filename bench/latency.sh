#!/usr/bin/env bash
# Glass-to-glass latency in headless Chromium: a timestamp drawn into the
# publisher's frames, read back from the frames the player page presents
# over WebRTC (WHEP), LL-HLS (hls.js) and HTTP-FLV (mpegts.js)
# (test/browser/latency.mjs, driven by bench/latency).
#
#   bench/latency.sh [SOURCES...]        default: whip rtmp
#
# whip: the browser publishes a 640x360 30 fps canvas with the page's WHIP
# code (browser H.264 encoder, WHIP ingest included in every figure);
# rtmp: ffmpeg (libx264 zerolatency, no B-frames) publishes frames drawn by
# bench/latency over RTMP.
#
#   ROUNDS=2 WARMUP=5s DURATION=20s   rounds, warm-up and window per mode
#   FIRST_ROUND=1                     number of the first round (to add rounds to a file)
#   MODES=webrtc,llhls,flv            player modes, one at a time
#   CONCURRENT=1                      every mode at once from one publisher
#   PLAYER_CONFIG='{"mpegts":{...}}'  merged into the page's hls.js/mpegts.js settings
#   MERGE_WRITE=0s                    mediakit's --merge-write
#   LABEL=text                        written into every result
#   OUT=file.jsonl                    default bench/results/latency-DATE.jsonl
#   CHROMIUM=/usr/bin/chromium
#
# Needs ffmpeg (rtmp), node, Chromium and test/browser's npm packages
# (cd test/browser && npm ci). Results: JSON lines and a table.
set -euo pipefail
cd "$(dirname "$0")/.."
sources=("$@")
[ ${#sources[@]} -gt 0 ] || sources=(whip rtmp)
[ -f test/browser/node_modules/playwright-core/package.json ] || {
	echo "latency: run npm ci in test/browser first" >&2
	exit 1
}
mkdir -p bench/results
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/mediakit" ./cmd/mediakit
go build -o "$bin/latency" ./bench/latency

out=${OUT:-bench/results/latency-$(date -u +%Y%m%dT%H%M%SZ).jsonl}
flags=(-mediakit "$bin/mediakit" -browser-dir test/browser -modes "${MODES:-webrtc,llhls,flv}"
	-warmup "${WARMUP:-5s}" -duration "${DURATION:-20s}" -out "$out"
	-commit "$(git describe --always --dirty 2>/dev/null || echo unknown)")
[ "${CONCURRENT:-0}" = 1 ] && flags+=(-concurrent)
[ -n "${PLAYER_CONFIG:-}" ] && flags+=(-player-config "$PLAYER_CONFIG")
[ -n "${MERGE_WRITE:-}" ] && flags+=(-merge-write "$MERGE_WRITE")
[ -n "${LABEL:-}" ] && flags+=(-label "$LABEL")
first=${FIRST_ROUND:-1}
for ((r = first; r < first + ${ROUNDS:-2}; r++)); do
	for s in "${sources[@]}"; do
		"$bin/latency" "${flags[@]}" -source "$s" -round "$r" >/dev/null ||
			echo "latency: source $s round $r failed" >&2
	done
done
echo "results: $out"
printf '%-14s %-6s %-7s %5s %7s %8s %8s %8s %8s %9s %6s\n' label source mode round samples p50_ms p95_ms min_ms max_ms estimate fails
jq -r '[(.label // "-"), .source, .mode, .round, .samples, .p50_ms, .p95_ms, .min_ms, .max_ms, (.page_estimate_ms // "-"), .decode_failures] | @tsv' "$out" |
	awk -F'\t' '{printf "%-14s %-6s %-7s %5s %7s %8s %8s %8s %8s %9s %6s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11}'
