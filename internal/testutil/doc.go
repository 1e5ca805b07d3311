// Package testutil holds helpers shared by mediakit's integration tests:
// locating the committed media clips in testdata/clips, picking free local
// ports, probing media with ffprobe and running ffmpeg as a child process that
// never outlives the test.
//
// Tests that need ffmpeg should call [RequireFFmpeg] first. Without ffmpeg and
// ffprobe on PATH the test is skipped, unless the environment variable
// MEDIAKIT_REQUIRE_FFMPEG=1 is set (as in CI), in which case it fails.
//
// The clips are produced by testdata/gen.sh; their measured properties
// (frame counts, codecs, keyframe interval) are listed in
// testdata/clips/README.md and asserted by this package's own tests.
package testutil
