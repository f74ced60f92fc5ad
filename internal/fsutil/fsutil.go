// Package fsutil writes files atomically: a temp file in the target's folder, synced, then
// renamed into place, so an interrupted write never leaves a half-written result where the
// user's file was. It knows nothing else.
package fsutil

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// WriteFileAtomic writes path with the bytes that write produces. On any error the previous
// content of path (if any) is left untouched and the temp file is removed.
func WriteFileAtomic(path string, write func(w io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	pending.add(tmp)
	defer pending.remove(tmp)
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err = write(bw); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = bw.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Chmod(tmp, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// pending holds the temp files being written, for RemovePending.
var pending = tempSet{names: map[string]bool{}}

type tempSet struct {
	mu    sync.Mutex
	names map[string]bool
}

func (s *tempSet) add(name string) {
	s.mu.Lock()
	s.names[name] = true
	s.mu.Unlock()
}

func (s *tempSet) remove(name string) {
	s.mu.Lock()
	delete(s.names, name)
	s.mu.Unlock()
}

// RemovePending removes the temp files and folders of the writes in progress. A process that must exit
// at once (interrupted, and its work did not stop in time) calls it last, so that it leaves
// neither a half-written file nor a stray temp file; the targets keep their old content.
func RemovePending() {
	pending.mu.Lock()
	defer pending.mu.Unlock()
	for name := range pending.names {
		os.RemoveAll(name)
	}
}

// WriteDirAtomic writes the folder dir with write, which fills the folder it is given: a
// temp folder beside dir, renamed to dir once complete, so that an interrupted write leaves
// no half-made model or data folder. When dir already exists and is not empty, write fills
// it in place (each file should then be written atomically).
func WriteDirAtomic(dir string, write func(tmp string) error) (err error) {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return write(dir)
	}
	parent := filepath.Dir(filepath.Clean(dir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("write %s: %w", dir, err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", dir, err)
	}
	pending.add(tmp)
	defer pending.remove(tmp)
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err = write(tmp); err != nil {
		return err
	}
	if err = os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("write %s: %w", dir, err)
	}
	os.Remove(dir) // an empty folder: rename cannot replace it
	if err = os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("write %s: %w", dir, err)
	}
	return nil
}

// WriteBytesAtomic is WriteFileAtomic for a ready buffer.
func WriteBytesAtomic(path string, data []byte) error {
	return WriteFileAtomic(path, func(w io.Writer) error { _, err := w.Write(data); return err })
}
