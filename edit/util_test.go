package edit_test

import (
	"os"
	"testing"
)

func readFile(path string) ([]byte, error) { return os.ReadFile(path) }

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
