package cli

import (
	"bytes"
	"context"
	"errors"
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
		{[]string{"echo", "--n", "x"}, 2, nil, 1, "prog: invalid value \"x\" for flag -n: parse error (see 'prog echo --help')\n", ""},
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
