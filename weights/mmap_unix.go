//go:build unix

package weights

import (
	"os"
	"syscall"
)

// stMap maps the first size bytes of fd copy-on-write: tensors come back as views of the page
// cache, and a caller that edits a view changes only its own process's copy, never the file.
func stMap(fd *os.File, size int) ([]byte, error) {
	return syscall.Mmap(int(fd.Fd()), 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE)
}

func stUnmap(b []byte) error { return syscall.Munmap(b) }
