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
