package fsutil

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.json")
	if err := WriteBytesAtomic(p, []byte("first")); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := WriteFileAtomic(p, func(w io.Writer) error {
		w.Write([]byte("half of the second"))
		return boom
	})
	if !errors.Is(err, boom) || err.Error() != "write "+p+": boom" {
		t.Errorf("error %v", err)
	}
	if got, _ := os.ReadFile(p); string(got) != "first" {
		t.Errorf("a failed write changed the file to %q", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temp files left behind: %v", entries)
	}
	if err := WriteBytesAtomic(p, []byte("second")); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); string(got) != "second" {
		t.Errorf("file holds %q", got)
	}
	if err := WriteBytesAtomic(filepath.Join(dir, "no", "such", "dir"), nil); err == nil {
		t.Error("writing into a missing folder succeeded")
	}
}

// An exit in the middle of a write removes the temp file and leaves the target as it was.
func TestRemovePending(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "out.txt")
	os.WriteFile(target, []byte("old"), 0o644)
	err := WriteFileAtomic(target, func(w io.Writer) error {
		w.Write([]byte("half"))
		RemovePending() // what the interrupt backstop does while a write is under way
		left, _ := os.ReadDir(dir)
		if len(left) != 1 {
			t.Errorf("temp file not removed: %v", left)
		}
		return nil
	})
	if err == nil {
		t.Error("a write whose temp file was removed succeeded")
	}
	if b, _ := os.ReadFile(target); string(b) != "old" {
		t.Errorf("target holds %q", b)
	}
}

// A folder appears whole or not at all; an existing folder with content is filled in place.
func TestWriteDirAtomic(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "model")
	err := WriteDirAtomic(dir, func(tmp string) error {
		os.WriteFile(filepath.Join(tmp, "config.json"), []byte("{}"), 0o644)
		return errors.New("interrupted")
	})
	if left, _ := os.ReadDir(root); err == nil || len(left) != 0 {
		t.Fatalf("a failed write left %v (error %v)", left, err)
	}
	if err := WriteDirAtomic(dir, func(tmp string) error {
		return os.WriteFile(filepath.Join(tmp, "config.json"), []byte("{}"), 0o644)
	}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "config.json")); err != nil || string(b) != "{}" {
		t.Fatalf("written folder: %v %q", err, b)
	}
	if err := WriteDirAtomic(dir, func(tmp string) error {
		if tmp != dir {
			t.Errorf("a folder with content is filled in place, got %s", tmp)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(root); len(left) != 1 {
		t.Errorf("left %v", left)
	}
}
