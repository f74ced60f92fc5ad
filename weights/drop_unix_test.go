//go:build unix

package weights

import (
	"path/filepath"
	"testing"
)

// Drop gives a mapped tensor's pages back: the view then reads the file again, so an edit
// made through it disappears, while a tensor on the heap keeps its edit.
func TestDropReleasesMappedPages(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.safetensors")
	big := make([]float32, 10000) // 40 kB: several whole pages
	for i := range big {
		big[i] = float32(i)
	}
	if err := WriteSafetensors(path, []Tensor{{Name: "big", Shape: []int{len(big)}, F32: big}}, nil); err != nil {
		t.Fatal(err)
	}
	f, err := OpenSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	x, err := f.Float32("big")
	if err != nil {
		t.Fatal(err)
	}
	x[5000] = -1
	f.Drop(x)
	if x[5000] != 5000 {
		t.Errorf("after Drop, x[5000] = %g, want the file's 5000", x[5000])
	}
	heap := append([]float32(nil), x...)
	heap[5000] = -1
	f.Drop(heap)
	if heap[5000] != -1 {
		t.Error("Drop touched memory outside the mapping")
	}
}
