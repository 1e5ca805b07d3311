// Package store is mediakit's embedded database (bbolt): settings changed
// through the API now, pull proxies and other API-created tasks later.
// Every write is a committed, fsynced transaction before the caller
// answers, so a kill -9 loses nothing that was acknowledged.
package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
)

// FileName is the database file inside the data dir.
const FileName = "mediakit.db"

var bucketConfig = []byte("config")

// Store is an open database.
type Store struct {
	db *bolt.DB
}

// Open opens (or creates) the database in dir. Another mediakit holding
// the same data dir makes it fail after timeout instead of hanging.
func Open(dir string, timeout time.Duration) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("data dir %s: %w", dir, err)
	}
	path := filepath.Join(dir, FileName)
	db, err := openChecked(path, timeout, false)
	if err != nil {
		return nil, err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketConfig)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: init %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// openChecked opens path and walks every page of it, so that a damaged
// file is reported at start (file and cause) instead of panicking later
// or being silently overwritten. The file is never modified here.
func openChecked(path string, timeout time.Duration, readOnly bool) (db *bolt.DB, err error) {
	damaged := func(cause any) error {
		return fmt.Errorf("store: open %s: database damaged (%v); it was left untouched: move it away to start with an empty database", path, cause)
	}
	defer func() {
		// bbolt panics on some corrupt pages rather than returning an error.
		if r := recover(); r != nil {
			if db != nil {
				db.Close()
			}
			db, err = nil, damaged(r)
		}
	}()
	db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout, ReadOnly: readOnly})
	if err != nil {
		var pathErr *fs.PathError
		var errno syscall.Errno
		switch {
		case errors.Is(err, bolt.ErrTimeout):
			return nil, fmt.Errorf("store: open %s: in use by another process", path)
		case errors.As(err, &pathErr):
			// The file could not be opened, written or synced (a
			// read-only file system, a full disk, permissions): the
			// system's cause, which names the file, not "damaged" with
			// advice to move a good database away.
			return nil, fmt.Errorf("store: %w", err)
		case errors.As(err, &errno):
			// flock, fdatasync: calls on the file that fail by the
			// system's doing.
			return nil, fmt.Errorf("store: open %s: %w", path, err)
		}
		// Invalid, checksum, version, "file size too small": the file.
		return nil, damaged(err)
	}
	err = db.View(func(tx *bolt.Tx) error {
		for cerr := range tx.Check() {
			return cerr // the first is enough to name the cause
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, damaged(err)
	}
	return db, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Config returns the settings saved through the API, by "section.key".
func (s *Store) Config() (map[string]string, error) {
	out := map[string]string{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketConfig).ForEach(func(k, v []byte) error {
			out[string(k)] = string(v)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: read config: %w", err)
	}
	return out, nil
}

// SetConfig saves settings in one transaction.
func (s *Store) SetConfig(values map[string]string) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketConfig)
		for k, v := range values {
			if err := b.Put([]byte(k), []byte(v)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: save config: %w", err)
	}
	return nil
}

// ReadConfig returns the saved settings of the database in dir without
// creating it or taking it from a running server: a missing database has
// none, a locked one is an error after timeout.
func ReadConfig(dir string, timeout time.Duration) (map[string]string, error) {
	path := filepath.Join(dir, FileName)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	// The same checks as a server's start: --print-config on a damaged
	// file says so instead of panicking inside bbolt.
	db, err := openChecked(path, timeout, true)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	out := map[string]string{}
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketConfig)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			out[string(k)] = string(v)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: read config: %w", err)
	}
	return out, nil
}
