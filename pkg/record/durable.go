package record

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// writeFileSync replaces path with data so that after a crash or a power
// loss path holds either its old content or all of data: replaceFile,
// then an fsync of the directory so the rename itself is durable.
func writeFileSync(path string, data []byte) error {
	if err := replaceFile(path, data); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// replaceFile writes data to a temporary file beside path, fsyncs it and
// renames it into place: path never holds part of data, and a temporary
// file a crash leaves behind is never named by a playlist. The rename is
// durable once the directory is synced (writeFileSync, or a later
// writeFileSync into the same directory: a directory fsync makes every
// earlier change of its entries durable).
func replaceFile(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("record: create %s: %w", tmp, err)
	}
	if _, err = f.Write(data); err != nil {
		err = fmt.Errorf("record: write %s: %w", tmp, err)
	} else if err = f.Sync(); err != nil {
		err = fmt.Errorf("record: sync %s: %w", tmp, err)
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("record: close %s: %w", tmp, cerr)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("record: rename %s: %w", tmp, err)
	}
	return nil
}

// syncDir fsyncs a directory, making the creation, rename or removal of
// its entries durable.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		// Windows cannot open a directory for flushing; NTFS journals
		// the metadata of renames and creations itself.
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("record: sync directory %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("record: sync directory %s: %w", dir, err)
	}
	return nil
}

// mkdirAllSync is os.MkdirAll that also fsyncs the parent of every
// directory it creates: a file made durable in a new directory is lost
// with it if the directory's own entry is not.
func mkdirAllSync(dir string) error {
	var created []string // deepest first
	for d := filepath.Clean(dir); ; {
		_, err := os.Stat(d)
		if !errors.Is(err, os.ErrNotExist) {
			break // exists, or MkdirAll reports why not
		}
		created = append(created, d)
		parent := filepath.Dir(d)
		if parent == d {
			break
		}
		d = parent
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("record: %w", err) // a *PathError, naming the directory
	}
	for i := len(created) - 1; i >= 0; i-- {
		if err := syncDir(filepath.Dir(created[i])); err != nil {
			return err
		}
	}
	return nil
}
