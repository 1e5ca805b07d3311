#!/usr/bin/env bash
# testdata/gen.sh — regenerate the synthetic test clips in testdata/clips/.
#
# Usage:
#   testdata/gen.sh            # (re)generate every clip, then verify it
#   testdata/gen.sh --verify   # only verify the committed clips
#
# Requirements: ffmpeg and ffprobe (written against the Debian 12 ffmpeg 5.1
# build, with libx264, libx265 and the native AAC encoder). No other tools.
#
# Properties:
#   * Deterministic: the only inputs are the lavfi synthetic sources testsrc2
#     (video) and sine (audio); every ffmpeg invocation uses
#     -fflags +bitexact -flags:v +bitexact -flags:a +bitexact, and the encoders
#     run single-threaded (x264 -threads 1, x265 pools=1:frame-threads=1)
#     because x264/x265 output depends on the thread count, which would
#     otherwise follow the CPU count of the machine. The same ffmpeg build
#     therefore produces byte-identical files on every run.
#   * Idempotent: each output is written to a temporary file next to its final
#     name and moved into place only when ffmpeg succeeded, so re-running the
#     script simply rewrites the same files; an interrupted run never leaves a
#     truncated clip behind.
#   * Self-checking: after generation every clip is probed with
#     `ffprobe -count_frames` and the script fails if a frame count, codec,
#     keyframe interval or size limit (400 KB) does not match what the tests
#     and testdata/clips/README.md promise.
#
# Outputs (see testdata/clips/README.md for the measured numbers):
#   h264_aac.flv          6 s  320x240 25 fps H.264 baseline, no B-frames, GOP 25
#                              + AAC-LC 44.1 kHz stereo
#   h264_bframes_aac.flv  6 s  same, H.264 main with B-frames (PTS != DTS)
#   h264_only.flv         4 s  H.264 baseline video only, GOP 25
#   aac_only.flv          4 s  AAC-LC 44.1 kHz stereo only
#   h265_aac.mp4          4 s  320x240 25 fps H.265 Main, closed GOP 25 (IDR), no
#                              B-frames, + AAC-LC
#   h265.hevc             raw Annex-B H.265 elementary stream of h265_aac.mp4
#   h264.h264             raw Annex-B H.264 elementary stream of h264_aac.flv
#   h264_mp3.flv          2 s  H.264 baseline GOP 25 + MP3 44.1 kHz stereo
#   h264_pcma.flv         2 s  H.264 baseline GOP 25 + G.711 A-law 8 kHz mono
#   h264_pcmu.mov         2 s  H.264 baseline GOP 25 + G.711 mu-law 8 kHz mono
#   av1_opus.mp4          2 s  AV1 (SVT-AV1) GOP 25 + Opus 48 kHz stereo
#   vp9_opus.mp4          2 s  VP9 (libvpx) GOP 25 + Opus 48 kHz stereo
#   h264_aac_pce.flv      2 s  H.264 baseline GOP 25 + AAC-LC 48 kHz 6.1(back): 7
#                              channels, which no channel configuration has, so
#                              the encoder writes a program config element
#   h264_aac24k.flv       2 s  H.264 baseline GOP 25 + AAC-LC 24 kHz stereo: the
#                              core tests declare as implicit HE-AAC (SBR 48 kHz)
#
# Note: ffmpeg 5.1 cannot mux H.265 into FLV/RTMP, hence the MP4 container.
set -euo pipefail

readonly HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly OUT="${HERE}/clips"
readonly MAX_BYTES=409600 # 400 KB

readonly BITEXACT=(-fflags +bitexact -flags:v +bitexact -flags:a +bitexact)
readonly FF=(ffmpeg -hide_banner -nostdin -loglevel error -y)

# Synthetic sources. testsrc2 has a moving pattern and a frame counter, so the
# encoder produces real P/B-frames; sine beeps once a second (beep_factor).
vsrc() { echo "testsrc2=size=320x240:rate=25:duration=$1"; }
asrc() { echo "sine=frequency=440:beep_factor=4:sample_rate=44100:duration=$1"; }

# Common encoder settings.
readonly X264_GOP=(-g 25 -keyint_min 25 -sc_threshold 0)
readonly X264_RATE=(-b:v 300k -maxrate 300k -bufsize 600k -pix_fmt yuv420p -threads 1)
readonly AAC=(-c:a aac -profile:a aac_low -b:a 64k -ar 44100 -ac 2)

die() {
	echo "gen.sh: $*" >&2
	exit 1
}

for tool in ffmpeg ffprobe; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool not found on PATH"
done

# Remove this run's temporary files however the script exits.
cleanup() { rm -f "$OUT"/.tmp.*."$$".*; }
trap cleanup EXIT

# run_ff FINAL_PATH ARGS... : run ffmpeg writing to a temp file, then move it
# into place. The temp file keeps the final extension so muxer selection by
# name still works.
run_ff() {
	local final="$1"
	shift
	local base ext tmp
	base="$(basename "$final")"
	ext="${base##*.}"
	tmp="$(dirname "$final")/.tmp.${base%.*}.$$.${ext}"
	"${FF[@]}" "$@" "$tmp"
	mv -f "$tmp" "$final"
	echo "wrote ${final#"${HERE}/"} ($(wc -c <"$final") bytes)"
}

generate() {
	mkdir -p "$OUT"

	run_ff "$OUT/h264_aac.flv" \
		-f lavfi -i "$(vsrc 6)" -f lavfi -i "$(asrc 6)" \
		-map 0:v -map 1:a \
		-c:v libx264 -profile:v baseline -bf 0 "${X264_GOP[@]}" "${X264_RATE[@]}" \
		"${AAC[@]}" \
		"${BITEXACT[@]}" -f flv

	# b-adapt=0 makes x264 always use the full 2 B-frames instead of deciding
	# adaptively, so PTS != DTS is guaranteed for most packets.
	run_ff "$OUT/h264_bframes_aac.flv" \
		-f lavfi -i "$(vsrc 6)" -f lavfi -i "$(asrc 6)" \
		-map 0:v -map 1:a \
		-c:v libx264 -profile:v main -bf 2 -x264-params b-adapt=0 "${X264_GOP[@]}" "${X264_RATE[@]}" \
		"${AAC[@]}" \
		"${BITEXACT[@]}" -f flv

	run_ff "$OUT/h264_only.flv" \
		-f lavfi -i "$(vsrc 4)" \
		-map 0:v \
		-c:v libx264 -profile:v baseline -bf 0 "${X264_GOP[@]}" "${X264_RATE[@]}" \
		"${BITEXACT[@]}" -f flv

	run_ff "$OUT/aac_only.flv" \
		-f lavfi -i "$(asrc 4)" \
		-map 0:a \
		"${AAC[@]}" \
		"${BITEXACT[@]}" -f flv

	run_ff "$OUT/h265_aac.mp4" \
		-f lavfi -i "$(vsrc 4)" -f lavfi -i "$(asrc 4)" \
		-map 0:v -map 1:a \
		-c:v libx265 -b:v 300k -pix_fmt yuv420p \
		-x265-params keyint=25:min-keyint=25:scenecut=0:bframes=0:open-gop=0:log-level=error:pools=1:frame-threads=1 \
		-tag:v hvc1 \
		"${AAC[@]}" \
		"${BITEXACT[@]}" -f mp4

	run_ff "$OUT/h265.hevc" \
		-i "$OUT/h265_aac.mp4" -map 0:v -c:v copy -bsf:v hevc_mp4toannexb \
		"${BITEXACT[@]}" -f hevc

	run_ff "$OUT/h264.h264" \
		-i "$OUT/h264_aac.flv" -map 0:v -c:v copy -bsf:v h264_mp4toannexb \
		"${BITEXACT[@]}" -f h264

	generate_codecs
}

# The codec clips: one per codec publishers send beyond H.264/H.265/AAC,
# 2 s each, for the codec table's tests (ARCHITECTURE.md).
generate_codecs() {
	local h264=(-c:v libx264 -profile:v baseline -bf 0 "${X264_GOP[@]}" "${X264_RATE[@]}")
	local sine8k="sine=frequency=440:beep_factor=4:sample_rate=8000:duration=2"
	local sine48k="sine=frequency=440:beep_factor=4:sample_rate=48000:duration=2"
	local opus=(-c:a libopus -b:a 48k -ar 48000 -ac 2)

	run_ff "$OUT/h264_mp3.flv" \
		-f lavfi -i "$(vsrc 2)" -f lavfi -i "$(asrc 2)" -map 0:v -map 1:a \
		"${h264[@]}" -c:a libmp3lame -b:a 64k -ar 44100 -ac 2 \
		"${BITEXACT[@]}" -f flv

	run_ff "$OUT/h264_pcma.flv" \
		-f lavfi -i "$(vsrc 2)" -f lavfi -i "$sine8k" -map 0:v -map 1:a \
		"${h264[@]}" -c:a pcm_alaw -ar 8000 -ac 1 \
		"${BITEXACT[@]}" -f flv

	run_ff "$OUT/h264_pcmu.mov" \
		-f lavfi -i "$(vsrc 2)" -f lavfi -i "$sine8k" -map 0:v -map 1:a \
		"${h264[@]}" -c:a pcm_mulaw -ar 8000 -ac 1 \
		"${BITEXACT[@]}" -f mov

	run_ff "$OUT/av1_opus.mp4" \
		-f lavfi -i "$(vsrc 2)" -f lavfi -i "$sine48k" -map 0:v -map 1:a \
		-c:v libsvtav1 -preset 12 -g 25 -pix_fmt yuv420p -svtav1-params lp=1 \
		"${opus[@]}" "${BITEXACT[@]}" -f mp4

	# AudioSpecificConfigs mediacommon does not write back (ARCHITECTURE.md,
	# issue 12): a PCE layout, and the LC core of implicit HE-AAC (ffmpeg
	# has no HE-AAC encoder here; the tests set the sync extension's SBR flag).
	run_ff "$OUT/h264_aac_pce.flv" \
		-f lavfi -i "$(vsrc 2)" -f lavfi -i "$sine48k" -map 0:v -map 1:a \
		"${h264[@]}" -af "aformat=channel_layouts=6.1(back)" -c:a aac -profile:a aac_low -b:a 96k \
		"${BITEXACT[@]}" -f flv

	run_ff "$OUT/h264_aac24k.flv" \
		-f lavfi -i "$(vsrc 2)" -f lavfi -i "sine=frequency=440:beep_factor=4:sample_rate=24000:duration=2" \
		-map 0:v -map 1:a \
		"${h264[@]}" -c:a aac -profile:a aac_low -b:a 32k -ar 24000 -ac 2 \
		"${BITEXACT[@]}" -f flv

	run_ff "$OUT/vp9_opus.mp4" \
		-f lavfi -i "$(vsrc 2)" -f lavfi -i "$sine48k" -map 0:v -map 1:a \
		-c:v libvpx-vp9 -deadline realtime -cpu-used 8 -g 25 -keyint_min 25 -b:v 300k -pix_fmt yuv420p \
		-threads 1 -row-mt 0 \
		"${opus[@]}" "${BITEXACT[@]}" -f mp4
}

# probe_field FILE STREAM ENTRY : print one stream entry (e.g. nb_read_frames).
probe_field() {
	ffprobe -v error -count_frames -select_streams "$2" \
		-show_entries "stream=$3" -of default=noprint_wrappers=1:nokey=1 "$1" | head -n1
}

# check_video FILE CODEC FRAMES [bframes]: frame count, codec, keyframe every
# 25 frames exactly, and (optionally) at least one packet with PTS != DTS.
check_video() {
	local f="$1" codec="$2" frames="$3" want_b="${4:-}"
	local got
	got="$(probe_field "$f" v:0 codec_name)"
	[[ "$got" == "$codec" ]] || die "$f: video codec $got, want $codec"
	got="$(probe_field "$f" v:0 nb_read_frames)"
	[[ "$got" == "$frames" ]] || die "$f: $got video frames, want $frames"

	# Packets in decode order: flags and whether pts != dts.
	local stats
	stats="$(ffprobe -v error -select_streams v:0 -show_entries packet=pts,dts,flags \
		-of csv=p=0 "$f" | awk -F, '
			{ n++ }
			$3 ~ /K/ { keys[k++] = n - 1 }
			$1 != $2 { reordered++ }
			END {
				bad = 0
				for (i = 0; i < k; i++) if (keys[i] != i * 25) bad = 1
				printf "%d %d %d %d\n", n, k, bad, reordered
			}')"
	local n k bad reordered
	read -r n k bad reordered <<<"$stats"
	[[ "$n" == "$frames" ]] || die "$f: $n video packets, want $frames"
	[[ "$k" == $((frames / 25)) && "$bad" == 0 ]] || die "$f: keyframes not exactly every 25 frames ($k keyframes)"
	if [[ -n "$want_b" ]]; then
		((reordered > 0)) || die "$f: expected B-frames (PTS != DTS), found none"
	else
		((reordered == 0)) || die "$f: unexpected PTS != DTS on $reordered packets"
	fi
}

check_audio() {
	local f="$1" got
	got="$(probe_field "$f" a:0 codec_name),$(probe_field "$f" a:0 profile),$(probe_field "$f" a:0 sample_rate),$(probe_field "$f" a:0 channels)"
	[[ "$got" == "aac,LC,44100,2" ]] || die "$f: audio $got, want aac,LC,44100,2"
}

check_streams() {
	local f="$1" want="$2" got
	got="$(ffprobe -v error -show_entries stream=codec_type -of csv=p=0 "$f" | paste -sd, -)"
	[[ "$got" == "$want" ]] || die "$f: streams $got, want $want"
}

# check_codec_clip FILE STREAMS VCODEC ACODEC,RATE,CHANNELS: a 2 s codec clip.
check_codec_clip() {
	local f="$OUT/$1" got
	check_streams "$f" "$2"
	check_video "$f" "$3" 50
	got="$(probe_field "$f" a:0 codec_name),$(probe_field "$f" a:0 sample_rate),$(probe_field "$f" a:0 channels)"
	[[ "$got" == "$4" ]] || die "$1: audio $got, want $4"
}

verify() {
	local f
	for f in h264_aac.flv h264_bframes_aac.flv h264_only.flv aac_only.flv h265_aac.mp4 h265.hevc h264.h264 \
		h264_mp3.flv h264_pcma.flv h264_pcmu.mov av1_opus.mp4 vp9_opus.mp4 h264_aac_pce.flv h264_aac24k.flv; do
		[[ -f "$OUT/$f" ]] || die "missing $OUT/$f (run testdata/gen.sh)"
		(($(wc -c <"$OUT/$f") < MAX_BYTES)) || die "$f is larger than 400 KB"
	done

	check_streams "$OUT/h264_aac.flv" video,audio
	check_video "$OUT/h264_aac.flv" h264 150
	check_audio "$OUT/h264_aac.flv"

	check_streams "$OUT/h264_bframes_aac.flv" video,audio
	check_video "$OUT/h264_bframes_aac.flv" h264 150 bframes
	check_audio "$OUT/h264_bframes_aac.flv"

	check_streams "$OUT/h264_only.flv" video
	check_video "$OUT/h264_only.flv" h264 100

	check_streams "$OUT/aac_only.flv" audio
	check_audio "$OUT/aac_only.flv"

	check_streams "$OUT/h265_aac.mp4" video,audio
	check_video "$OUT/h265_aac.mp4" hevc 100
	check_audio "$OUT/h265_aac.mp4"

	# Raw elementary streams have no timestamps; only count frames.
	[[ "$(probe_field "$OUT/h265.hevc" v:0 nb_read_frames)" == 100 ]] || die "h265.hevc: want 100 frames"
	[[ "$(probe_field "$OUT/h264.h264" v:0 nb_read_frames)" == 150 ]] || die "h264.h264: want 150 frames"

	check_codec_clip h264_mp3.flv video,audio h264 mp3,44100,2
	check_codec_clip h264_pcma.flv video,audio h264 pcm_alaw,8000,1
	check_codec_clip h264_pcmu.mov video,audio h264 pcm_mulaw,8000,1
	check_codec_clip av1_opus.mp4 video,audio av1 opus,48000,2
	check_codec_clip vp9_opus.mp4 video,audio vp9 opus,48000,2
	# 7 channels: only a program config element describes them.
	check_codec_clip h264_aac_pce.flv video,audio h264 aac,48000,7
	check_codec_clip h264_aac24k.flv video,audio h264 aac,24000,2

	echo "verified all clips in ${OUT#"${HERE}/"}"
}

case "${1:-}" in
"") generate && verify ;;
--verify) verify ;;
-h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" ;;
*) die "unknown argument: $1 (try --help)" ;;
esac
