package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The recording index: bucketRecordings holds one bucket per stream
// ("vhost/app/stream"), keyed by start time (8 bytes, big-endian Unix
// nanoseconds) then path, so that a time range is one cursor seek, with
// the duration (nanoseconds) and size as two more big-endian 8-byte
// numbers for value: a month of one-minute files is read without parsing
// anything. bucketRecordingPaths maps a path back to its stream and key,
// for deletions by path.
var (
	bucketRecordings     = []byte("recordings")
	bucketRecordingPaths = []byte("recordings.paths")
)

// Recording is one finished recording file in the index.
type Recording struct {
	Stream   string // vhost/app/stream
	Path     string // absolute
	Start    time.Time
	Duration time.Duration
	Size     int64
}

// End is when the recording ends.
func (r Recording) End() time.Time { return r.Start.Add(r.Duration) }

const recordingValueLen = 16

func recordingValue(r Recording) []byte {
	v := make([]byte, recordingValueLen)
	binary.BigEndian.PutUint64(v, uint64(r.Duration))
	binary.BigEndian.PutUint64(v[8:], uint64(r.Size))
	return v
}

func recordingKey(start time.Time, path string) []byte {
	k := make([]byte, 8, 8+len(path))
	binary.BigEndian.PutUint64(k, uint64(start.UnixNano()))
	return append(k, path...)
}

// pathValue is a path's entry in bucketRecordingPaths: its stream's name,
// a zero byte, and its key there.
func pathValue(stream string, key []byte) []byte {
	return append(append([]byte(stream), 0), key...)
}

// PutRecordings adds recordings to the index (a path already there is
// replaced), in one transaction, committed and fsynced when it returns.
func (s *Store) PutRecordings(recs []Recording) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		top, err := tx.CreateBucketIfNotExists(bucketRecordings)
		if err != nil {
			return err
		}
		paths, err := tx.CreateBucketIfNotExists(bucketRecordingPaths)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if err := deleteRecording(top, paths, r.Path); err != nil {
				return err
			}
			bk, err := top.CreateBucketIfNotExists([]byte(r.Stream))
			if err != nil {
				return err
			}
			key := recordingKey(r.Start, r.Path)
			if err := bk.Put(key, recordingValue(r)); err != nil {
				return err
			}
			if err := paths.Put([]byte(r.Path), pathValue(r.Stream, key)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: index recordings: %w", err)
	}
	return nil
}

// DeleteRecordings removes the recordings at paths from the index and
// returns how many it held.
func (s *Store) DeleteRecordings(paths []string) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		top, byPath := tx.Bucket(bucketRecordings), tx.Bucket(bucketRecordingPaths)
		if top == nil || byPath == nil {
			return nil
		}
		for _, p := range paths {
			if byPath.Get([]byte(p)) != nil {
				n++
			}
			if err := deleteRecording(top, byPath, p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: unindex recordings: %w", err)
	}
	return n, nil
}

func deleteRecording(top, byPath *bolt.Bucket, path string) error {
	v := byPath.Get([]byte(path))
	if v == nil {
		return nil
	}
	stream, key, ok := bytes.Cut(v, []byte{0})
	if ok {
		if bk := top.Bucket(stream); bk != nil {
			if err := bk.Delete(key); err != nil {
				return err
			}
		}
	}
	return byPath.Delete([]byte(path))
}

// Recordings returns the recordings of stream that overlap [from, to),
// in start order; a zero from or to leaves that side open.
func (s *Store) Recordings(stream string, from, to time.Time) ([]Recording, error) {
	var out []Recording
	err := s.db.View(func(tx *bolt.Tx) error {
		top := tx.Bucket(bucketRecordings)
		if top == nil {
			return nil
		}
		bk := top.Bucket([]byte(stream))
		if bk == nil {
			return nil
		}
		c := bk.Cursor()
		var k, v []byte
		if from.IsZero() {
			k, v = c.First()
		} else {
			// The recordings of a stream follow one another, so the one
			// that started last before from is the only earlier one that
			// may still run at from; a few more are looked at in case two
			// recorders (another root) overlapped.
			k, v = c.Seek(recordingKey(from, ""))
			for range 4 {
				pk, pv := c.Prev()
				if pk == nil {
					break
				}
				k, v = pk, pv
			}
		}
		for ; k != nil; k, v = c.Next() {
			if len(k) < 8 || len(v) != recordingValueLen {
				return fmt.Errorf("recording entry %q damaged", k)
			}
			r := Recording{
				Stream: stream, Path: string(k[8:]), Start: time.Unix(0, int64(binary.BigEndian.Uint64(k))),
				Duration: time.Duration(binary.BigEndian.Uint64(v)), Size: int64(binary.BigEndian.Uint64(v[8:])),
			}
			if !to.IsZero() && !r.Start.Before(to) {
				break
			}
			if !from.IsZero() && !r.End().After(from) {
				continue
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: read recordings of %s: %w", stream, err)
	}
	return out, nil
}

// RecordingPaths returns the path of every indexed recording.
func (s *Store) RecordingPaths() (map[string]bool, error) {
	out := map[string]bool{}
	err := s.db.View(func(tx *bolt.Tx) error {
		byPath := tx.Bucket(bucketRecordingPaths)
		if byPath == nil {
			return nil
		}
		return byPath.ForEach(func(k, _ []byte) error {
			out[string(k)] = true
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: read recording paths: %w", err)
	}
	return out, nil
}
