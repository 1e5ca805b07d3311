package store

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Task kinds: one bucket each.
const (
	KindProxy  = "proxy"  // addStreamProxy
	KindPusher = "pusher" // addStreamPusherProxy
	KindFFmpeg = "ffmpeg" // addFFmpegSource
)

var taskKinds = []string{KindProxy, KindPusher, KindFFmpeg}

func taskBucket(kind string) []byte { return []byte("task." + kind) }

// Task is one stored task: its key (as the API names it) and its
// parameters as JSON.
type Task struct {
	Key   string
	Value json.RawMessage
}

// PutTask stores v (as JSON) under kind and key, replacing what was
// there. It returns once the transaction is committed and fsynced.
func (s *Store) PutTask(kind, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("store: save %s %q: %w", kind, key, err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		bk, err := tx.CreateBucketIfNotExists(taskBucket(kind))
		if err != nil {
			return err
		}
		return bk.Put([]byte(key), b)
	})
	if err != nil {
		return fmt.Errorf("store: save %s %q: %w", kind, key, err)
	}
	return nil
}

// DeleteTask removes the task of kind and key; it reports whether there
// was one. It returns once the deletion is committed and fsynced.
func (s *Store) DeleteTask(kind, key string) (bool, error) {
	found := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(taskBucket(kind))
		if bk == nil || bk.Get([]byte(key)) == nil {
			return nil
		}
		found = true
		return bk.Delete([]byte(key))
	})
	if err != nil {
		return false, fmt.Errorf("store: delete %s %q: %w", kind, key, err)
	}
	return found, nil
}

// Tasks returns every task of kind, sorted by key.
func (s *Store) Tasks(kind string) ([]Task, error) {
	var out []Task
	err := s.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(taskBucket(kind))
		if bk == nil {
			return nil
		}
		return bk.ForEach(func(k, v []byte) error {
			out = append(out, Task{Key: string(k), Value: append(json.RawMessage(nil), v...)})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: read %s tasks: %w", kind, err)
	}
	return out, nil
}
