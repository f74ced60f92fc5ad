package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

func testCommand(got *[]string, n *int) *Command {
	c := NewCommand("echo", "echo ARGS... [--n N]", "Echo its arguments")
	c.Flags.IntVar(n, "n", 1, "a number")
	c.Run = func(ctx context.Context, io *IO, args []string) error {
		*got = args
		switch {
		case len(args) > 0 && args[0] == "fail":
			return errors.New("it failed\nbadly")
		case len(args) > 0 && args[0] == "usage":
			return Usagef("bad %s", "usage")
		case len(args) > 0 && args[0] == "cancel":
			return context.Canceled
		}
		return nil
	}
	return c
}

func TestMainParsesAndReports(t *testing.T) {
	var got []string
	var n int
	cmds := []*Command{testCommand(&got, &n)}
	for _, tc := range []struct {
		argv    []string
		code    int
		args    []string
		n       int
		errOut  string
		outHave string
	}{
		{[]string{"echo", "a", "--n", "3", "b"}, 0, []string{"a", "b"}, 3, "", ""},
		{[]string{"echo", "a"}, 0, []string{"a"}, 1, "", ""}, // --n reset to its default
		{[]string{"echo", "--", "--n", "x"}, 0, []string{"--n", "x"}, 1, "", ""},
		{[]string{"echo", "fail"}, 1, nil, 1, "prog: it failed badly\n", ""},
		{[]string{"echo", "usage"}, 2, nil, 1, "prog: bad usage (see 'prog echo --help')\n", ""},
		{[]string{"echo", "cancel"}, 130, nil, 1, "prog: interrupted\n", ""},
		{[]string{"echo", "--n", "x"}, 2, nil, 1, "prog: --n: \"x\" is not an integer (see 'prog echo --help')\n", ""},
		{[]string{"echo", "--nosuchflag"}, 2, nil, 1, "prog: unknown flag --nosuchflag (see 'prog echo --help')\n", ""},
		{[]string{"echo", "--n"}, 2, nil, 1, "prog: --n needs a value (see 'prog echo --help')\n", ""},
		{[]string{"help", "nosuch"}, 2, nil, 1, "prog: unknown command \"nosuch\" (run 'prog help')\n", ""},
		{[]string{"nope"}, 2, nil, 1, "prog: unknown command \"nope\" (run 'prog help')\n", ""},
		{[]string{"echo", "--help"}, 0, nil, 1, "", "Usage:\n  prog echo ARGS... [--n N]"},
		{[]string{"help", "echo"}, 0, nil, 1, "", "--n int"},
		{nil, 2, nil, 1, "", "Commands:\n  echo"},
	} {
		got = nil
		var out, errOut bytes.Buffer
		code := Main(context.Background(), "prog", cmds, tc.argv, &IO{Out: &out, Err: &errOut})
		if code != tc.code || errOut.String() != tc.errOut || !strings.Contains(out.String(), tc.outHave) {
			t.Errorf("%q: exit %d, stderr %q, stdout %q", tc.argv, code, errOut.String(), out.String())
		}
		if tc.args != nil && (strings.Join(got, "|") != strings.Join(tc.args, "|") || n != tc.n) {
			t.Errorf("%q: args %q n %d, want %q n %d", tc.argv, got, n, tc.args, tc.n)
		}
	}
}

// Nested commands: usage lines name each command once, whichever way Usage is written, and
// help walks down to the command named.
func TestNestedHelp(t *testing.T) {
	leaf := NewCommand("merge", "group merge DIR...", "Merge things")
	bare := NewCommand("data", "data --out DIR", "Write data")
	group := NewCommand("group", "group [flags]", "A group")
	group.Sub = []*Command{leaf, bare}
	group.Run = func(ctx context.Context, io *IO, args []string) error { return nil }
	for _, tc := range []struct {
		argv []string
		code int
		out  string
	}{
		{[]string{"group", "merge", "--help"}, 0, "Merge things\n\nUsage:\n  prog group merge DIR...\n"},
		{[]string{"group", "data", "-h"}, 0, "Write data\n\nUsage:\n  prog group data --out DIR\n"},
		{[]string{"help", "group", "merge"}, 0, "Merge things\n\nUsage:\n  prog group merge DIR...\n"},
		{[]string{"group", "help", "data"}, 0, "Write data\n\nUsage:\n  prog group data --out DIR\n"},
		{[]string{"help", "group"}, 0, "A group\n\nUsage:\n  prog group [flags]\n"},
		{[]string{"help", "group", "nosuch"}, 2, ""},
	} {
		var out, errOut bytes.Buffer
		code := Main(context.Background(), "prog", []*Command{group}, tc.argv, &IO{Out: &out, Err: &errOut})
		if code != tc.code || !strings.HasPrefix(out.String(), tc.out) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", tc.argv, code, out.String(), errOut.String())
		}
	}
}

// The validating flag types refuse bad values as usage errors naming the flag, and start
// every run from their defaults.
func TestFlagTypes(t *testing.T) {
	c := NewCommand("f", "f [flags]", "Flags")
	top := Int(c.Flags, "top", 10, 1, NoLimit, "")
	temp := Float(c.Flags, "temperature", 0, 0, math.Inf(1), "")
	var p float64
	FloatVar(c.Flags, &p, "p", 0.5, 0, 1, "")
	mode := Choice(c.Flags, "mode", "own", []string{"own", "final-scale"}, "")
	sites := List(c.Flags, "sites", "resid,mlp", []string{"resid", "heads", "mlp"}, "")
	target := Text(c.Flags, "target", "", "")
	c.Flags.Bool("bos", false, "")
	var seen []string
	c.Run = func(ctx context.Context, io *IO, args []string) error {
		seen = []string{fmt.Sprint(*top), fmt.Sprint(*temp), fmt.Sprint(p), *mode, strings.Join(*sites, "+"), *target}
		return nil
	}
	for _, tc := range []struct {
		argv []string
		err  string
		seen string
	}{
		{[]string{"f"}, "", "10 0 0.5 own resid+mlp "},
		{[]string{"f", "--top", "3", "--temperature", "0.7", "--p", "1", "--mode", "final-scale", "--sites", "heads", "--target", " A"}, "", "3 0.7 1 final-scale heads  A"},
		{[]string{"f"}, "", "10 0 0.5 own resid+mlp "}, // defaults again
		{[]string{"f", "--top", "0"}, `--top: "0" is not an integer ≥ 1`, ""},
		{[]string{"f", "--top", "-1"}, `--top: "-1" is not an integer ≥ 1`, ""},
		{[]string{"f", "--temperature", "NaN"}, `--temperature: "NaN" is not a finite number ≥ 0`, ""},
		{[]string{"f", "--temperature", "-Inf"}, `--temperature: "-Inf" is not a finite number ≥ 0`, ""},
		{[]string{"f", "--p", "1.5"}, `--p: "1.5" is not a number in [0, 1]`, ""},
		{[]string{"f", "--mode", "mean"}, `--mode: "mean" is not own or final-scale`, ""},
		{[]string{"f", "--sites", "attn"}, `--sites: "attn" is not resid, heads or mlp`, ""},
		{[]string{"f", "--sites", "resid,attn"}, `--sites: "attn" is not resid, heads or mlp`, ""},
		{[]string{"f", "--sites", ""}, `--sites: "" has an empty item (want a comma-separated list)`, ""},
		{[]string{"f", "--target", ""}, `--target: "" is empty`, ""},
		{[]string{"f", "--bos=maybe"}, `--bos: "maybe" is not true or false`, ""},
	} {
		seen = nil
		var out, errOut bytes.Buffer
		code := Main(context.Background(), "prog", []*Command{c}, tc.argv, &IO{Out: &out, Err: &errOut})
		if tc.err == "" {
			if code != 0 || strings.Join(seen, " ") != tc.seen {
				t.Errorf("%q: exit %d %s, values %q, want %q", tc.argv, code, errOut.String(), strings.Join(seen, " "), tc.seen)
			}
			continue
		}
		if want := "prog: " + tc.err + " (see 'prog f --help')\n"; code != 2 || errOut.String() != want {
			t.Errorf("%q: exit %d, stderr %q, want %q", tc.argv, code, errOut.String(), want)
		}
	}
	var help bytes.Buffer
	Main(context.Background(), "prog", []*Command{c}, []string{"f", "--help"}, &IO{Out: &help, Err: &help})
	for _, want := range []string{"--top int", "--temperature float", "--mode string", "(default own)", "--sites list", "(default resid,mlp)"} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, help.String())
		}
	}
}

// The Var forms fill struct fields, parse as their pointer forms do, and go back to the
// defaults at every run: a command built once and run twice (tests, the TUI) reads each
// run's own values from its options struct.
func TestFlagVarForms(t *testing.T) {
	var o struct {
		mode, target  string
		sites, tokens []string
	}
	c := NewCommand("v", "v [flags]", "Var forms")
	ChoiceVar(c.Flags, &o.mode, "mode", "own", []string{"own", "final-scale"}, "")
	ListVar(c.Flags, &o.sites, "sites", "resid,mlp", []string{"resid", "heads", "mlp"}, "")
	TextVar(c.Flags, &o.target, "target", " A", "")
	TextListVar(c.Flags, &o.tokens, "token", "")
	if o.mode != "own" || strings.Join(o.sites, "+") != "resid+mlp" || o.target != " A" || o.tokens != nil {
		t.Fatalf("defaults not stored: %+v", o)
	}
	var seen string
	c.Run = func(ctx context.Context, io *IO, args []string) error {
		seen = fmt.Sprintf("%s|%s|%s|%s", o.mode, strings.Join(o.sites, "+"), o.target, strings.Join(o.tokens, "+"))
		return nil
	}
	for _, tc := range []struct {
		argv []string
		err  string
		seen string
	}{
		{[]string{"v", "--mode", "final-scale", "--sites", "heads", "--target", " B", "--token", "x", "--token", "y"}, "", "final-scale|heads| B|x+y"},
		{[]string{"v"}, "", "own|resid+mlp| A|"}, // defaults again
		{[]string{"v", "--token", "z"}, "", "own|resid+mlp| A|z"},
		{[]string{"v", "--mode", "mean"}, `--mode: "mean" is not own or final-scale`, ""},
		{[]string{"v", "--sites", "resid,attn"}, `--sites: "attn" is not resid, heads or mlp`, ""},
		{[]string{"v", "--target", ""}, `--target: "" is empty`, ""},
		{[]string{"v", "--token", ""}, `--token: "" is empty`, ""},
	} {
		seen = ""
		var out, errOut bytes.Buffer
		code := Main(context.Background(), "prog", []*Command{c}, tc.argv, &IO{Out: &out, Err: &errOut})
		if tc.err == "" {
			if code != 0 || seen != tc.seen {
				t.Errorf("%q: exit %d %s, values %q, want %q", tc.argv, code, errOut.String(), seen, tc.seen)
			}
			continue
		}
		if want := "prog: " + tc.err + " (see 'prog v --help')\n"; code != 2 || errOut.String() != want {
			t.Errorf("%q: exit %d, stderr %q, want %q", tc.argv, code, errOut.String(), want)
		}
	}
}

func TestRowsFormats(t *testing.T) {
	r := &Rows{Header: []string{"name", "value"}}
	r.Add("alpha", 1.5)
	r.Add("b", float32(-20))
	r.Heat = [][]float64{{0, 1}, {0, -1}}
	var table, csv, color bytes.Buffer
	r.WriteTable(&table, false)
	r.WriteCSV(&csv)
	r.WriteTable(&color, true)
	if want := "name   value\nalpha    1.5\nb        -20\n"; table.String() != want {
		t.Errorf("table:\n%q\nwant\n%q", table.String(), want)
	}
	if want := "name,value\nalpha,1.5\nb,-20\n"; csv.String() != want {
		t.Errorf("csv %q", csv.String())
	}
	if !strings.Contains(color.String(), "\x1b[48;5;196m") || !strings.Contains(color.String(), "\x1b[48;5;27m") {
		t.Errorf("heat shading missing: %q", color.String())
	}
}
