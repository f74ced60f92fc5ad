//go:build unix

package weights

import (
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// stMap maps the first size bytes of fd copy-on-write: tensors come back as views of the page
// cache, and a caller that edits a view changes only its own process's copy, never the file.
func stMap(fd *os.File, size int) ([]byte, error) {
	return syscall.Mmap(int(fd.Fd()), 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE)
}

func stUnmap(b []byte) error { return syscall.Munmap(b) }

// stDrop tells the kernel that the whole pages inside b are no longer needed: the process's
// resident memory drops, and a later read faults them in again from the file.
func stDrop(b []byte) {
	page := uintptr(os.Getpagesize())
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	lo := (start + page - 1) &^ (page - 1)
	hi := (start + uintptr(len(b))) &^ (page - 1)
	if hi > lo {
		// x/sys/unix: the syscall package has no Madvise on darwin.
		unix.Madvise(b[lo-start:hi-start], unix.MADV_DONTNEED) // advice only: an error changes nothing
	}
}
