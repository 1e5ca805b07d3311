// Package ffmpegsrc runs FFmpeg sources: ZLMediaKit's addFFmpegSource,
// delFFmpegSource and listFFmpegSource. A source is an ffmpeg process that
// reads any URL ffmpeg can read and pushes it as RTMP, usually into this
// server, so that anything ffmpeg understands becomes a mediakit stream.
//
// Each source is a task with one supervisor goroutine that owns its
// process and its state: it starts ffmpeg, restarts it when it exits
// (exponential backoff with jitter, reset after a run that lasted) and
// every ffmpeg.restart_sec if set, keeps the tail of its stderr, and
// publishes an immutable status snapshot that List reads without asking.
// Nothing else touches the process.
//
// The command line is ZLMediaKit's template (ffmpeg.cmd), split on white
// space before the executable, source and destination are put in, so each
// URL is one argument whatever it holds and no shell ever runs. ffmpeg
// runs in a process group of its own that is killed as a whole; on Linux
// the kernel also kills it if mediakit dies (Pdeathsig), so a kill -9
// leaves no ffmpeg behind.
//
// Add answers once the destination stream is live on the server (through
// the StreamWaiter), and only after the task is stored durably: a source
// that was acknowledged survives a restart (failure-modes.md 4) and
// Restore runs it again. Per-stream options (enable_hls, enable_mp4) are
// not applied by the supervisor: the stream's owner asks StreamOptions
// when its publisher arrives, so recorders are set up on the stream's own
// goroutine (failure-modes.md 1).
package ffmpegsrc
