// Package cli is the frame of the mechlens command: subcommands over the standard library's
// flag package (flags may follow positional arguments), flag types that validate while
// parsing (one rule and one message per kind of value), one-line errors with documented exit
// codes, and the three output forms every command offers: an aligned table for people,
// --json and --csv for scripts, with cell types (tokens, neuron ids) written for each. It
// knows nothing of models.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// Exit codes, listed in the README and in every command's help.
const (
	ExitOK          = 0
	ExitError       = 1
	ExitUsage       = 2
	ExitInterrupted = 130
)

// IO is where a command writes: the result on Out, notices and progress on Err.
type IO struct {
	In       io.Reader
	Out, Err io.Writer
	// ErrTTY is true when Err is a terminal: progress bars are drawn only then.
	ErrTTY bool
}

// StdIO is the process's own streams.
func StdIO() *IO {
	return &IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, ErrTTY: IsTerminal(os.Stderr)}
}

// IsTerminal reports whether f is a character device (a terminal).
func IsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Command is one subcommand.
type Command struct {
	Name    string
	Usage   string // e.g. "trace PROMPT --out FILE.safetensors"
	Short   string
	Long    string
	Example string
	Flags   *flag.FlagSet
	// Run receives the positional arguments; flags are already parsed.
	Run func(ctx context.Context, io *IO, args []string) error
	// Sub are nested commands (audit merge, toy train).
	Sub []*Command
}

// NewCommand returns a command with an empty flag set.
func NewCommand(name, usage, short string) *Command {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return &Command{Name: name, Usage: usage, Short: short, Flags: fs}
}

// UsageError is a mistake in the command line: it is printed with a pointer to --help and
// exits 2.
type UsageError struct{ msg string }

func (e *UsageError) Error() string { return e.msg }

// Usagef returns a UsageError.
func Usagef(format string, a ...any) error { return &UsageError{fmt.Sprintf(format, a...)} }

// Help writes a command's help; path is the command line that names it ("mechlens audit
// merge").
func (c *Command) Help(w io.Writer, path string) {
	fmt.Fprintf(w, "%s\n\nUsage:\n  %s\n", c.Short, c.usageLine(path))
	if c.Long != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(c.Long))
	}
	if len(c.Sub) > 0 {
		fmt.Fprintf(w, "\nCommands:\n")
		for _, s := range c.Sub {
			fmt.Fprintf(w, "  %-10s %s\n", s.Name, s.Short)
		}
	}
	var flags []*flag.Flag
	c.Flags.VisitAll(func(f *flag.Flag) { flags = append(flags, f) })
	if len(flags) > 0 {
		fmt.Fprintf(w, "\nFlags:\n")
		sort.Slice(flags, func(i, j int) bool { return flags[i].Name < flags[j].Name })
		for _, f := range flags {
			_, usage := flag.UnquoteUsage(f)
			name := typeName(f)
			head := "--" + f.Name
			if name != "" {
				head += " " + name
			}
			def := ""
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
				def = fmt.Sprintf(" (default %s)", f.DefValue)
			}
			fmt.Fprintf(w, "  %-24s %s%s\n", head, usage, def)
		}
	}
	if c.Example != "" {
		fmt.Fprintf(w, "\nExample:\n%s\n", strings.TrimRight(c.Example, "\n"))
	}
	fmt.Fprintf(w, "\nExit status: 0 ok, 1 failure, 2 usage error, 130 interrupted.\n")
}

// usageLine is path followed by what Usage says after the command's own name. Usage may
// start with the command's name alone ("merge DIR...") or with its parents' ("audit merge
// DIR..."); either way the name is printed once.
func (c *Command) usageLine(path string) string {
	rest := c.Usage
	for range strings.Fields(path) {
		if r, ok := strings.CutPrefix(rest, c.Name); ok && (r == "" || r[0] == ' ') {
			return path + r
		}
		_, after, ok := strings.Cut(rest, " ")
		if !ok {
			break
		}
		rest = after
	}
	return path + " " + c.Usage
}

// parse parses flags that may appear before, between or after positional arguments. A lone
// "--" ends the flags.
func (c *Command) parse(args []string) ([]string, error) {
	// Commands are built once per process; a second run in the same process (tests, the TUI)
	// must not inherit the first one's flags.
	// A fresh flag set also forgets which flags the last run set (flag.FlagSet.Visit).
	fresh := flag.NewFlagSet(c.Flags.Name(), flag.ContinueOnError)
	fresh.SetOutput(io.Discard)
	c.Flags.VisitAll(func(f *flag.Flag) {
		if r, ok := f.Value.(resetter); ok {
			r.reset()
		} else {
			f.Value.Set(f.DefValue)
		}
		fresh.Var(f.Value, f.Name, f.Usage)
	})
	c.Flags = fresh
	var pos []string
	for {
		if err := c.Flags.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &UsageError{flagError(c.Flags, err)}
		}
		rest := c.Flags.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(args) > 0 && len(rest) < len(args) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// Main runs the command named by args[0] among cmds and returns the exit code. Errors are
// printed as one line "prog: message"; usage errors add a pointer to --help.
func Main(ctx context.Context, prog string, cmds []*Command, args []string, io *IO) int {
	top := &Command{Name: prog, Usage: "COMMAND [flags]", Short: prog + " looks inside GPT-2-family models and changes them.", Sub: cmds,
		Flags: flag.NewFlagSet(prog, flag.ContinueOnError)}
	return top.dispatch(ctx, prog, args, io)
}

func (c *Command) dispatch(ctx context.Context, path string, args []string, io *IO) int {
	isHelp := len(args) > 0 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help")
	if len(c.Sub) > 0 && (c.Run == nil || len(args) > 0 && (c.find(args[0]) != nil || args[0] == "help")) {
		if len(args) == 0 || isHelp {
			// "help audit merge" walks down to the command named.
			target, tpath := c, path
			for _, name := range args[min(1, len(args)):] {
				s := target.find(name)
				if s == nil {
					fmt.Fprintf(io.Err, "%s: unknown command %q (run '%s help')\n", strings.Fields(path)[0], name, tpath)
					return ExitUsage
				}
				target, tpath = s, tpath+" "+s.Name
			}
			target.Help(io.Out, tpath)
			if len(args) == 0 {
				return ExitUsage
			}
			return ExitOK
		}
		s := c.find(args[0])
		if s == nil {
			fmt.Fprintf(io.Err, "%s: unknown command %q (run '%s help')\n", strings.Fields(path)[0], args[0], path)
			return ExitUsage
		}
		return s.dispatch(ctx, path+" "+s.Name, args[1:], io)
	}
	pos, err := c.parse(args)
	if errors.Is(err, flag.ErrHelp) {
		c.Help(io.Out, path)
		return ExitOK
	}
	if err == nil {
		err = c.Run(ctx, io, pos)
	}
	return report(io, path, err)
}

func (c *Command) find(name string) *Command {
	for _, s := range c.Sub {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// report prints err on one line and returns its exit code.
func report(io *IO, path string, err error) int {
	if err == nil {
		return ExitOK
	}
	prog := strings.Fields(path)[0]
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	var ue *UsageError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(io.Err, "%s: %s (see '%s --help')\n", prog, msg, path)
		return ExitUsage
	case errors.Is(err, context.Canceled):
		fmt.Fprintf(io.Err, "%s: interrupted\n", prog)
		return ExitInterrupted
	default:
		fmt.Fprintf(io.Err, "%s: %s\n", prog, msg)
		return ExitError
	}
}
