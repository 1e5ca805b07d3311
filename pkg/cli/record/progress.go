package record

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/mediakit/mediakit/pkg/source"
)

// startProgress draws elapsed time, bytes and bitrate on w until the
// returned function is called; with show false it draws nothing.
func startProgress(show bool, w io.Writer, src source.Source, sink *limitSink) (stop func()) {
	if !show {
		return func() {}
	}
	bar := progressbar.NewOptions64(src.Size(),
		progressbar.OptionSetWriter(w),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionSetDescription("recording"),
	)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			media, _ := sink.progress()
			read := src.BytesRead()
			rate := 0.0
			if media > 0 {
				rate = float64(read) * 8 / media.Seconds() / 1000
			}
			bar.Describe(fmt.Sprintf("recording %s media, %.0f kbit/s", media.Round(time.Second), rate))
			_ = bar.Set64(read)
		}
	}()
	return func() {
		close(done)
		<-finished
		_ = bar.Finish()
	}
}
