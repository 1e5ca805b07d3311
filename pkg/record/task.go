package record

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/mediakit/mediakit/pkg/engine"
)

// ErrFileExists is returned by StartTask for a path that exists.
var ErrFileExists = errors.New("file exists")

// StartTask records the stream of key into one MP4 file at path,
// ZLMediaKit's startRecordTask: from the stream's GOP cache (its latest
// keyframe: the pre-roll the engine holds, whatever back_ms asked) until
// forward after the call, then the file is finished. It returns once the
// recording runs. The file is fragmented and fsynced while written, so it
// plays at any time, and is never deleted by deleteRecordDirectory while
// written; on_record_mp4 is not sent for it, as in ZLMediaKit.
func (m *Manager) StartTask(ctx context.Context, key engine.Key, path string, forward time.Duration) error {
	info, found, err := m.Engine.Stream(ctx, key)
	if err != nil {
		return err
	}
	if !found || !info.Ready {
		return ErrNotPublished
	}
	// The path is held from now (the file appears with the first frame)
	// until the task is over, so that a second task cannot take it.
	if !m.writing.reserve(path) {
		return fmt.Errorf("record: %s: %w", path, ErrFileExists)
	}
	if _, err := os.Lstat(path); err == nil {
		m.writing.remove(path)
		return fmt.Errorf("record: %s: %w", path, ErrFileExists)
	}
	sink := NewMP4File(path, m.Settings().Sync, m.log().With("stream", key.String(), "record", "task")).(*mp4Recorder)
	sink.writing = &m.writing
	sink.exclusive = true
	name := fmt.Sprintf("record-task-%d", m.tasks.Add(1))
	err = m.Engine.AttachSink(ctx, key, name, func() engine.Sink { return sink })
	if err != nil {
		m.writing.remove(path)
		if errors.Is(err, engine.ErrNotFound) {
			return ErrNotPublished
		}
		return err
	}
	m.log().Info("recording task started", "stream", key.String(), "file", path, "forward", forward.String())
	time.AfterFunc(forward, func() {
		// Detaching ends the sink's reader and waits for the file to
		// be finished.
		_, _ = m.Engine.DetachSink(context.Background(), key, name)
		m.writing.remove(path)
	})
	return nil
}
