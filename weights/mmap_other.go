//go:build !unix

package weights

import (
	"io"
	"os"
)

// stMap reads the whole file where mmap is not available; views of it behave as the unix
// copy-on-write mapping does.
func stMap(fd *os.File, size int) ([]byte, error) {
	b := make([]byte, size)
	if _, err := io.ReadFull(fd, b); err != nil {
		return nil, err
	}
	return b, nil
}

func stUnmap([]byte) error { return nil }

func stDrop([]byte) {}
