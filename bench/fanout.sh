#!/usr/bin/env bash
# Fan-out benchmark: one 2 Mbit/s publisher, N players on loopback.
#
#   bench/fanout.sh [READERS...]        default: 100 500 1000
#
# Builds mediakit and the load generator, makes a 2 Mbit/s 720p clip once
# (bench/results/clip-2mbps.flv), then for each reader count measures
# mediakit over HTTP-FLV, RTMP and RTSP (TCP interleaved), and the
# reference servers that are installed (MediaMTX over RTMP and RTSP:
# MEDIAMTX=/path/to/mediamtx; nginx-rtmp: Debian's libnginx-mod-rtmp), one
# after the other in the same run. Results are JSON lines in
# bench/results/fanout-DATE.jsonl and a table on stdout.
#
# Environment:
#   MEDIAMTX=/path/to/mediamtx   the MediaMTX binary (default: mediamtx on PATH)
#   SRS=/path/to/srs             SRS (objs/srs of a build; targets srs-flv, srs-rtmp)
#   ZLM=/path/to/MediaServer     ZLMediaKit (release/linux/Release/MediaServer of a
#                                build; default: MediaServer on PATH; targets zlm-flv,
#                                zlm-rtmp)
#   BATCHING="0s 100ms 350ms"    run every target once per write batching window
#                                (mediakit --merge-write, SRS mw_latency, ZLMediaKit
#                                general.mergeWriteMS; the others
#                                have none and run once); default: each server's own
#   TARGETS=a,b,...              run only these targets, e.g.
#                                TARGETS=mediakit-rtsp,mediamtx-rtsp
#                                (mediakit-flv mediakit-rtmp mediakit-rtsp
#                                mediamtx-rtmp mediamtx-rtsp nginx-rtmp srs-flv srs-rtmp
#                                zlm-flv zlm-rtmp)
#   IDLE=0                       skip the idle-player memory runs
#   OUT=file.jsonl               results file (default bench/results/fanout-DATE.jsonl)
#   FANOUT_FLAGS="..."           extra load generator flags, e.g. "-duration 30s"
#   ROUNDS=3                     repeat the whole run (all targets, windows and counts)
#                                three times, so that the shared machine's drift hits
#                                every server alike; compare the rounds' means
#   CPUS=0/1                     run each server on CPU 0 and the load generator
#                                (players, publisher) on CPU 1 (taskset, util-linux);
#                                a pinned mediakit runs one pool worker (GOMAXPROCS
#                                follows the CPUs it may use); the idle runs stay unpinned
set -euo pipefail
cd "$(dirname "$0")/.."
readers=("$@")
[ ${#readers[@]} -gt 0 ] || readers=(100 500 1000)
available=(mediakit-flv mediakit-rtmp mediakit-rtsp)
mediamtx=${MEDIAMTX:-$(command -v mediamtx || true)}
[ -n "$mediamtx" ] && [ -x "$mediamtx" ] && available+=(mediamtx-rtmp mediamtx-rtsp)
[ -f /usr/lib/nginx/modules/ngx_rtmp_module.so ] && command -v nginx >/dev/null && available+=(nginx-rtmp)
srs=${SRS:-$(command -v srs || true)}
[ -n "$srs" ] && [ -x "$srs" ] && available+=(srs-flv srs-rtmp)
zlm=${ZLM:-$(command -v MediaServer || true)}
[ -n "$zlm" ] && [ -x "$zlm" ] && available+=(zlm-flv zlm-rtmp)
targets=("${available[@]}")
if [ -n "${TARGETS:-}" ]; then
	targets=()
	IFS=, read -ra wanted <<<"$TARGETS"
	for t in "${wanted[@]}"; do
		if [[ " ${available[*]} " == *" $t "* ]]; then
			targets+=("$t")
		else
			echo "fanout: target $t is unknown or its server is not installed (available: ${available[*]})" >&2
			exit 2
		fi
	done
fi

mkdir -p bench/results
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/mediakit" ./cmd/mediakit
go build -o "$bin/fanout" ./bench/fanout

clip=bench/results/clip-2mbps.flv
if [ ! -s "$clip" ]; then
	echo "generating $clip (once)" >&2
	ffmpeg -hide_banner -loglevel error -y \
		-f lavfi -i "testsrc2=size=1280x720:rate=30" -f lavfi -i "sine=frequency=440:sample_rate=44100" \
		-t 30 -c:v libx264 -preset veryfast -b:v 1900k -maxrate 1900k -bufsize 1900k \
		-g 60 -keyint_min 60 -sc_threshold 0 -pix_fmt yuv420p \
		-c:a aac -b:a 96k -ac 2 -f flv "$clip"
fi

out=${OUT:-bench/results/fanout-$(date -u +%Y%m%dT%H%M%SZ).jsonl}
[[ ${ROUNDS:-1} =~ ^[1-9][0-9]*$ ]] || { echo "fanout: ROUNDS=$ROUNDS: want a number of rounds" >&2; exit 2; }
pin=()
if [ -n "${CPUS:-}" ]; then
	[[ $CPUS == ?*/?* ]] || { echo "fanout: CPUS=$CPUS: want SERVER/LOADGEN CPU lists, e.g. 0/1" >&2; exit 2; }
	pin=(taskset -c "${CPUS#*/}")
	FANOUT_FLAGS="${FANOUT_FLAGS:-} -server-cpus ${CPUS%/*}"
fi
read -ra windows <<<"${BATCHING:-default}"
round=()
for r in $(seq "${ROUNDS:-1}"); do
	[ "${ROUNDS:-1}" = 1 ] || round=(-round "$r")
	for n in "${readers[@]}"; do
		for w in "${windows[@]}"; do
			for t in "${targets[@]}"; do
				batch=()
				if [ "$w" != default ]; then
					case $t in
					mediakit-* | srs-* | zlm-*) batch=(-merge-write "$w") ;;
					*) [ "$w" = "${windows[0]}" ] || continue ;; # no window to set: once
					esac
				fi
				"${pin[@]}" "$bin/fanout" -target "$t" -readers "$n" -clip "$clip" -mediakit "$bin/mediakit" \
					-mediamtx "${mediamtx:-mediamtx}" -srs "${srs:-srs}" -zlm "${zlm:-MediaServer}" "${batch[@]}" "${round[@]}" -out "$out" ${FANOUT_FLAGS:-} >/dev/null ||
					echo "fanout: $t with $n readers (batching $w) failed" >&2
			done
		done
	done
done

# Memory of idle players: the publisher stops once they joined, and the
# stream waits in its grace period with every player attached (mediakit
# targets only: the others end their players when the publisher goes).
for t in "${targets[@]}"; do
	[ "${IDLE:-1}" != 0 ] && [[ $t == mediakit-* ]] || continue
	"$bin/fanout" -target "$t" -readers "${readers[-1]}" -idle -ttfk 0 -clip "$clip" -mediakit "$bin/mediakit" \
		-out "$out" >/dev/null || echo "fanout: idle $t failed" >&2
done

echo "results: $out" >&2
go run ./bench/fanout/table "$out"
