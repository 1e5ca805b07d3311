#!/usr/bin/env bash
# Probe time: `mediakit probe` against `ffprobe -show_format -show_streams`
# on the same >= 60 MB FLV, MPEG-TS, MP4 and fragmented MP4 (frag.mp4: moof
# per keyframe, -movflags frag_keyframe+empty_moov) files
# (testdata/clips/h264_aac.flv looped with -c copy: 20 minutes, H.264 +
# AAC), each run RUNS times after one warm-up (files in the page cache),
# median wall time per tool.
#
#   bench/probe.sh [RUNS]       default: 15
#
# Prints a table on stdout; the files are made in a temporary directory
# and removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-15}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/mediakit" ./cmd/mediakit
clip=testdata/clips/h264_aac.flv
for ext in flv ts mp4; do
	ffmpeg -v error -y -stream_loop 210 -i "$clip" -c copy "$tmp/big.$ext"
done
ffmpeg -v error -y -stream_loop 210 -i "$clip" -c copy -movflags frag_keyframe+empty_moov "$tmp/big.frag.mp4"
python3 - "$tmp" "$runs" <<'PY'
import json, os, statistics, subprocess, sys, time
tmp, runs = sys.argv[1], int(sys.argv[2])
def median(cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # warm-up
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
    return statistics.median(times)
def duration(cmd):
    return json.loads(subprocess.run(cmd, check=True, capture_output=True).stdout)["format"]["duration"]
print("| file | size MB | mediakit probe ms | ffprobe ms | mediakit / ffprobe | duration (mediakit / ffprobe) |")
print("|---|---|---|---|---|---|")
for ext in ("flv", "ts", "mp4", "frag.mp4"):
    f = os.path.join(tmp, "big." + ext)
    mk = median([os.path.join(tmp, "mediakit"), "probe", "--json", f])
    ff = median(["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", f])
    dm = duration([os.path.join(tmp, "mediakit"), "probe", "--json", f])
    df = duration(["ffprobe", "-v", "error", "-print_format", "json", "-show_format", f])
    print("| %s | %.0f | %.1f | %.1f | %.2f | %s / %s |" % (ext, os.path.getsize(f) / 1e6, mk * 1e3, ff * 1e3, mk / ff, dm, df))
PY
