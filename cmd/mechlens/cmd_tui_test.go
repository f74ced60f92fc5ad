package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mechlens/mechlens/internal/cli"
)

func TestTUINeedsATerminal(t *testing.T) {
	io := &cli.IO{In: strings.NewReader(""), Out: &bytes.Buffer{}, Err: &bytes.Buffer{}}
	if code := run(context.Background(), []string{"tui", "hello"}, io); code != 1 {
		t.Errorf("exit %d without a terminal, want 1", code)
	}
	if got := io.Err.(*bytes.Buffer).String(); !strings.Contains(got, "needs a terminal") {
		t.Errorf("stderr %q", got)
	}
	io.Err = &bytes.Buffer{}
	if code := run(context.Background(), []string{"tui", "a", "b"}, io); code != 2 {
		t.Errorf("exit %d with two prompts, want 2 (usage)", code)
	}
}

const tuiPrompt = "Question: Which is red? Answer Choices: A: sky B: apple Answer:"

// tmuxTerm drives the built binary in a real terminal: a tmux server of its own, one
// session of a fixed size.
type tmuxTerm struct {
	t      *testing.T
	socket string
}

func (tm *tmuxTerm) tmux(args ...string) string {
	tm.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", tm.socket}, args...)...).CombinedOutput()
	if err != nil {
		tm.t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// screen is the pane's text; with escapes, its colours and attributes too.
func (tm *tmuxTerm) screen(escapes bool) string {
	args := []string{"capture-pane", "-p", "-t", "t"}
	if escapes {
		args = append(args, "-e")
	}
	return tm.tmux(args...)
}

// waitFor polls the pane until it shows want (the program computes in the background, so
// the screen changes when the result arrives, not when the key is sent).
func (tm *tmuxTerm) waitFor(want string) string {
	tm.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := tm.screen(false)
		if strings.Contains(s, want) {
			return s
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("the terminal never showed %q; it shows:\n%s", want, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (tm *tmuxTerm) keys(k ...string) { tm.tmux(append([]string{"send-keys", "-t", "t"}, k...)...) }

// startTUI builds mechlens and runs `mechlens tui PROMPT` in an 80×24 tmux pane with env.
func startTUI(t *testing.T, bin string, env ...string) *tmuxTerm {
	dir := t.TempDir()
	script := filepath.Join(dir, "run.sh")
	body := fmt.Sprintf("#!/bin/sh\n%s tui '%s'\necho \"EXIT=$?\"\nexec sleep 600\n", bin, tuiPrompt)
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	tm := &tmuxTerm{t: t, socket: fmt.Sprintf("mechlens-test-%d-%d", os.Getpid(), time.Now().UnixNano())}
	args := []string{"-f", "/dev/null", "new-session", "-d", "-s", "t", "-x", "80", "-y", "24"}
	for _, e := range env {
		args = append(args, "-e", e)
	}
	tm.tmux(append(args, script)...)
	t.Cleanup(func() { exec.Command("tmux", "-L", tm.socket, "kill-server").Run() })
	return tm
}

// buildMechlens builds the command into a temporary folder.
func buildMechlens(t *testing.T) string {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed: the end-to-end terminal test needs it (.ci/run installs it)")
	}
	bin := filepath.Join(t.TempDir(), "mechlens")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestTUIInTmux runs the binary in a real terminal (tmux): 256 colours and NO_COLOR.
func TestTUIInTmux(t *testing.T) {
	bin := buildMechlens(t)
	t.Run("keys", func(t *testing.T) { tuiKeys(t, bin) })
	t.Run("no_color", func(t *testing.T) { tuiNoColor(t, bin) })
}

// tuiKeys goes through panes, ablates a head, opens the help and quits with q, which must
// exit 0 with the terminal restored.
func tuiKeys(t *testing.T, bin string) {
	tm := startTUI(t, bin, "TERM=xterm-256color")
	s := tm.waitFor(`" A" vs " B"  logit diff`)
	for _, want := range []string{"[1 tokens]", "next token", `Answer[:]`} {
		if !strings.Contains(s, want) {
			t.Errorf("first screen lacks %q:\n%s", want, s)
		}
	}
	if lines := strings.Split(strings.TrimRight(s, "\n"), "\n"); len(lines) > 24 {
		t.Errorf("%d lines on a 24-line terminal", len(lines))
	}
	tm.keys("2")
	tm.waitFor(`prob of " A" by layer`)
	if e := tm.screen(true); !regexp.MustCompile(`\x1b\[[0-9;]*48;5;(2[0-9][0-9]|1[0-9][0-9])m`).MatchString(e) {
		t.Errorf("no 256-colour heat in the lens pane:\n%q", e)
	}
	tm.keys("4", "Down", "Down", "Down", "Down", "Down", "a")
	s = tm.waitFor("[base, v switches]")
	tm.keys("v")
	tm.waitFor("[+0.00]") // the ablated head L1H1 writes nothing in the edited model

	// The edited logit difference shown is the one `mechlens attribute --edits` computes
	// with the set the browser saves.
	shown := regexp.MustCompile(`→ edited ([-+][0-9.]+)`).FindStringSubmatch(s)
	if shown == nil {
		t.Fatalf("no edited logit difference on the screen:\n%s", s)
	}
	set := filepath.Join(t.TempDir(), "ablate.json")
	tm.keys("w", "C-u")
	tm.keys("-l", set)
	tm.keys("Enter")
	tm.waitFor("saved 1 edits")
	out, err := exec.Command(bin, "attribute", tuiPrompt, "--target", " A", "--baseline", " B", "--edits", set, "--json").Output()
	if err != nil {
		t.Fatalf("mechlens attribute --edits: %v", err)
	}
	var at struct {
		Attribution struct{ Logit float64 } `json:"attribution"`
	}
	if err := json.Unmarshal(out, &at); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%+.4f", at.Attribution.Logit); shown[1] != want {
		t.Errorf("the browser shows an edited logit difference of %s, mechlens attribute --edits %s", shown[1], want)
	}
	tm.keys("7")
	tm.waitFor("scale_head L1H1 ×0")
	tm.keys("?")
	tm.waitFor("keys (any key closes this help)")
	tm.keys("1") // any key closes the help (Escape would be read with the next key as alt+q)
	tm.keys("q")
	s = tm.waitFor("EXIT=")
	if !strings.Contains(s, "EXIT=0") {
		t.Errorf("q did not exit 0:\n%s", s)
	}
	if strings.Contains(s, "mechlens") || strings.Contains(s, "logit diff") {
		t.Errorf("the program's screen is left behind after it quit:\n%s", s)
	}
	if alt := strings.TrimSpace(tm.tmux("display-message", "-p", "-t", "t", "#{alternate_on} #{cursor_flag}")); alt != "0 1" {
		t.Errorf("after quitting: alternate screen and cursor %q, want 0 1 (main screen, cursor shown)", alt)
	}
}

// tuiNoColor checks that NO_COLOR leaves no colour on the screen, while the cursor and
// selections still show (brackets and ▸).
func tuiNoColor(t *testing.T, bin string) {
	tm := startTUI(t, bin, "TERM=xterm-256color", "NO_COLOR=1")
	tm.waitFor("logit diff")
	tm.keys("2")
	s := tm.waitFor(`prob of " A" by layer`)
	if !strings.Contains(s, "▸ 0 pre") {
		t.Errorf("no selection mark without colour:\n%s", s)
	}
	if e := tm.screen(true); regexp.MustCompile(`\x1b\[[0-9;]*[34]8;`).MatchString(e) {
		t.Errorf("NO_COLOR: colours on the screen:\n%q", e)
	}
	tm.keys("q")
	tm.waitFor("EXIT=0")
}
