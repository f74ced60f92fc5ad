package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/mechlens/mechlens/internal/cli"
)

// TestMain lets a test run the real main (signals, exit codes) in a child process: the test
// binary re-executes itself with MECHLENS_RUN_MAIN=1.
func TestMain(m *testing.M) {
	if os.Getenv("MECHLENS_RUN_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// SIGINT and SIGTERM stop a long command with exit 130, "interrupted" on one line, and
// nothing written.
func TestSignalsExit130(t *testing.T) {
	if testing.Short() {
		t.Skip("trains the organism for a step")
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		dir := t.TempDir()
		out := filepath.Join(dir, "model")
		cmd := exec.Command(os.Args[0], "toy", "train", "--out", out)
		cmd.Env = append(os.Environ(), "MECHLENS_RUN_MAIN=1")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The first progress line proves the handler is installed and training under way.
		if !bufio.NewScanner(stdout).Scan() {
			t.Fatalf("%v: no progress line; stderr %q", sig, stderr.String())
		}
		cmd.Process.Signal(sig)
		go func() { bufio.NewReader(stdout).WriteTo(discard{}) }()
		err = cmd.Wait()
		if code := cmd.ProcessState.ExitCode(); code != 130 || stderr.String() != "mechlens: interrupted\n" {
			t.Errorf("%v: exit %d (%v), stderr %q; want 130 and one line", sig, code, err, stderr.String())
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%v: the interrupted training wrote %s", sig, out)
		}
	}
}

type discard struct{}

func (discard) Write(b []byte) (int, error) { return len(b), nil }

// cancelAfter is a context that reports cancellation from its n-th Err() call on: it
// interrupts a command deterministically in the middle of its work (its forward passes
// check the context between blocks).
type cancelAfter struct {
	context.Context
	n    atomic.Int64
	once sync.Once
	done chan struct{}
}

func newCancelAfter(n int64) *cancelAfter {
	c := &cancelAfter{Context: context.Background(), done: make(chan struct{})}
	c.n.Store(n)
	return c
}

func (c *cancelAfter) Err() error {
	if c.n.Add(-1) < 0 {
		c.once.Do(func() { close(c.done) })
		return context.Canceled
	}
	return nil
}

func (c *cancelAfter) Done() <-chan struct{} { return c.done }

// Every command that runs the model stops when interrupted mid-work: exit 130, one line, no
// output file.
func TestCommandsStopWhenInterrupted(t *testing.T) {
	dir := t.TempDir()
	for _, argv := range [][]string{
		{"run", "--model", tiny, "Hello world"},
		{"generate", "--model", tiny, "Hello world", "--n", "5"},
		{"trace", "--model", tiny, "Hello world", "--out", filepath.Join(dir, "t.safetensors")},
		{"lens", "--model", tiny, mcqPrompt},
		{"attribute", "--model", tiny, mcqPrompt, "--target", " A"},
		{"heads", "--model", tiny, mcqPrompt},
		{"neurons", "--model", tiny, mcqPrompt, "--correct", " B"},
		{"patch", "--model", tiny, "--clean-ids", "1,2,3", "--corrupt-ids", "1,5,3", "--target", " A"},
		{"audit", "--model", tiny, "--generate", "ioi", "--n", "4", "--out", filepath.Join(dir, "audit")},
	} {
		var out, errOut strings.Builder
		code := run(newCancelAfter(3), argv, &cli.IO{In: strings.NewReader(""), Out: &out, Err: &errOut})
		if code != 130 || errOut.String() != "mechlens: interrupted\n" || out.Len() != 0 {
			t.Errorf("%q: exit %d, stderr %q, stdout %d bytes; want 130, one line, nothing", argv, code, errOut.String(), out.Len())
		}
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range left {
		if entries, _ := os.ReadDir(f); !strings.HasSuffix(f, "audit") || len(entries) > 0 {
			t.Errorf("an interrupted command left %s (%d entries)", f, len(entries))
		}
	}
}
