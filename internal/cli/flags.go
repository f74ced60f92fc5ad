package cli

import (
	"flag"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Flag types that validate while parsing, so that every command refuses an out-of-range
// number, NaN, an unknown choice or an empty value the same way: a usage error (exit 2)
// naming the flag, e.g. `--top: "0" is not an integer ≥ 1`. New commands declare their
// flags with these rather than checking values in Run.

// NoLimit is an unbounded end of a range.
const NoLimit = math.MaxInt

// resetter is a flag that knows its default: a command run twice in one process (tests,
// the TUI) starts from the defaults, including those its own Set would refuse ("").
type resetter interface{ reset() }

// IntFlag is an integer that must lie in [Lo, Hi].
type IntFlag struct {
	V, def int
	Lo, Hi int
	p      *int // where the value is also stored (IntVar), or nil
}

func (f *IntFlag) reset()       { f.V = f.def; storeIn(f.p, f.def) }
func (f *IntFlag) Type() string { return "int" }

func (f *IntFlag) String() string { return strconv.Itoa(f.V) }

func (f *IntFlag) Set(s string) error {
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || v < f.Lo || v > f.Hi {
		return fmt.Errorf("is not %s", intRange(f.Lo, f.Hi))
	}
	f.V = v
	storeIn(f.p, v)
	return nil
}

func intRange(lo, hi int) string {
	switch {
	case lo == -NoLimit && hi == NoLimit:
		return "an integer"
	case hi == NoLimit:
		return fmt.Sprintf("an integer ≥ %d", lo)
	case lo == -NoLimit:
		return fmt.Sprintf("an integer ≤ %d", hi)
	}
	return fmt.Sprintf("an integer in [%d, %d]", lo, hi)
}

// Int defines an integer flag that accepts [lo, hi] (NoLimit, -NoLimit for no bound).
func Int(fs *flag.FlagSet, name string, def, lo, hi int, usage string) *int {
	f := &IntFlag{V: def, def: def, Lo: lo, Hi: hi}
	fs.Var(f, name, usage)
	return &f.V
}

// IntVar is Int storing into p (for flags that fill a struct field).
func IntVar(fs *flag.FlagSet, p *int, name string, def, lo, hi int, usage string) {
	*p = def
	fs.Var(&IntFlag{V: def, def: def, Lo: lo, Hi: hi, p: p}, name, usage)
}

// FloatFlag is a finite number in [Lo, Hi]: NaN and ±Inf are refused (NaN passes every
// comparison a command would write).
type FloatFlag struct {
	V, def float64
	Lo, Hi float64
	p      *float64 // where the value is also stored (FloatVar), or nil
}

func (f *FloatFlag) reset()       { f.V = f.def; storeIn(f.p, f.def) }
func (f *FloatFlag) Type() string { return "float" }

func (f *FloatFlag) String() string { return strconv.FormatFloat(f.V, 'g', -1, 64) }

func (f *FloatFlag) Set(s string) error {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < f.Lo || v > f.Hi {
		switch {
		case math.IsInf(f.Lo, -1) && math.IsInf(f.Hi, 1):
			return fmt.Errorf("is not a finite number")
		case math.IsInf(f.Hi, 1):
			return fmt.Errorf("is not a finite number ≥ %g", f.Lo)
		}
		return fmt.Errorf("is not a number in [%g, %g]", f.Lo, f.Hi)
	}
	f.V = v
	storeIn(f.p, v)
	return nil
}

// Float defines a float flag that accepts finite numbers in [lo, hi] (±math.Inf for no bound).
func Float(fs *flag.FlagSet, name string, def, lo, hi float64, usage string) *float64 {
	f := &FloatFlag{V: def, def: def, Lo: lo, Hi: hi}
	fs.Var(f, name, usage)
	return &f.V
}

// FloatVar is Float storing into p (for flags that fill a struct field).
func FloatVar(fs *flag.FlagSet, p *float64, name string, def, lo, hi float64, usage string) {
	*p = def
	fs.Var(&FloatFlag{V: def, def: def, Lo: lo, Hi: hi, p: p}, name, usage)
}

// ChoiceFlag is one of a fixed set of words.
type ChoiceFlag struct {
	V, def  string
	Choices []string
	p       *string // where the value is also stored (ChoiceVar), or nil
}

func (f *ChoiceFlag) reset()         { f.store(f.def) }
func (f *ChoiceFlag) store(v string) { f.V = v; storeIn(f.p, v) }
func (f *ChoiceFlag) Type() string   { return "string" }

func (f *ChoiceFlag) String() string { return f.V }

func (f *ChoiceFlag) Set(s string) error {
	if !slices.Contains(f.Choices, s) {
		return fmt.Errorf("is not %s", OrList(f.Choices))
	}
	f.store(s)
	return nil
}

// Choice defines a flag whose value must be one of choices.
func Choice(fs *flag.FlagSet, name, def string, choices []string, usage string) *string {
	f := &ChoiceFlag{V: def, def: def, Choices: choices}
	fs.Var(f, name, usage)
	return &f.V
}

// ChoiceVar is Choice storing into p.
func ChoiceVar(fs *flag.FlagSet, p *string, name, def string, choices []string, usage string) {
	*p = def
	fs.Var(&ChoiceFlag{V: def, def: def, Choices: choices, p: p}, name, usage)
}

// storeIn sets *p to v when p is set: the Var forms' second copy of a flag's value.
func storeIn[T any](p *T, v T) {
	if p != nil {
		*p = v
	}
}

// ListFlag is a comma-separated list whose items are all non-empty and, when Choices is
// set, each one of them.
type ListFlag struct {
	V, def  []string
	Choices []string
	p       *[]string // where the value is also stored (ListVar), or nil
}

func (f *ListFlag) reset()           { f.store(f.def) }
func (f *ListFlag) store(v []string) { f.V = v; storeIn(f.p, v) }
func (f *ListFlag) Type() string     { return "list" }

func (f *ListFlag) String() string { return strings.Join(f.V, ",") }

func (f *ListFlag) Set(s string) error {
	var v []string
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return fmt.Errorf("has an empty item (want a comma-separated list)")
		}
		if f.Choices != nil && !slices.Contains(f.Choices, item) {
			return fmt.Errorf("item %q is not %s", item, OrList(f.Choices))
		}
		v = append(v, item)
	}
	f.store(v)
	return nil
}

// List defines a comma-separated list flag (choices nil: any non-empty items).
func List(fs *flag.FlagSet, name, def string, choices []string, usage string) *[]string {
	f := &ListFlag{Choices: choices}
	defineList(fs, f, name, def, usage)
	return &f.V
}

// ListVar is List storing into p.
func ListVar(fs *flag.FlagSet, p *[]string, name, def string, choices []string, usage string) {
	*p = nil
	defineList(fs, &ListFlag{Choices: choices, p: p}, name, def, usage)
}

func defineList(fs *flag.FlagSet, f *ListFlag, name, def, usage string) {
	if def != "" {
		if err := f.Set(def); err != nil {
			panic("cli: default of --" + name + " " + err.Error())
		}
		f.def = f.V
	}
	fs.Var(f, name, usage)
}

// TextFlag is a string that may be left out but not given empty (--target "" is a slip,
// not a request for nothing).
type TextFlag struct {
	V, def string
	p      *string // where the value is also stored (TextVar), or nil
}

func (f *TextFlag) reset()         { f.store(f.def) }
func (f *TextFlag) store(v string) { f.V = v; storeIn(f.p, v) }
func (f *TextFlag) Type() string   { return "string" }

func (f *TextFlag) String() string { return f.V }

func (f *TextFlag) Set(s string) error {
	if s == "" {
		return fmt.Errorf("is empty")
	}
	f.store(s)
	return nil
}

// Text defines a string flag that refuses an empty value.
func Text(fs *flag.FlagSet, name, def, usage string) *string {
	f := &TextFlag{V: def, def: def}
	fs.Var(f, name, usage)
	return &f.V
}

// TextVar is Text storing into p.
func TextVar(fs *flag.FlagSet, p *string, name, def, usage string) {
	*p = def
	fs.Var(&TextFlag{V: def, def: def, p: p}, name, usage)
}

// typeName is the word help shows for a flag's value: int, float, string, list...
func typeName(f *flag.Flag) string {
	name, _ := flag.UnquoteUsage(f)
	if t, ok := f.Value.(interface{ Type() string }); ok && name == "value" {
		name = t.Type()
	}
	return name
}

// TextListFlag is a repeatable flag of non-empty texts (--target " A" --target " B").
type TextListFlag struct {
	V []string
	p *[]string // where the value is also stored (TextListVar), or nil
}

func (f *TextListFlag) reset()       { f.V = nil; storeIn(f.p, nil) }
func (f *TextListFlag) Type() string { return "string" }
func (f *TextListFlag) String() string {
	if f == nil {
		return ""
	}
	return strings.Join(f.V, ",")
}

func (f *TextListFlag) Set(s string) error {
	if s == "" {
		return fmt.Errorf("is empty")
	}
	f.V = append(f.V, s)
	storeIn(f.p, f.V)
	return nil
}

// TextList defines a repeatable flag of non-empty texts.
func TextList(fs *flag.FlagSet, name, usage string) *[]string {
	f := &TextListFlag{}
	fs.Var(f, name, usage)
	return &f.V
}

// TextListVar is TextList storing into p.
func TextListVar(fs *flag.FlagSet, p *[]string, name, usage string) {
	*p = nil
	fs.Var(&TextListFlag{p: p}, name, usage)
}

// OrList writes "a, b or c".
func OrList(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}

// flagError rewrites the flag package's messages in the words of the README: "unknown flag
// --x", `--top: "0" is not an integer ≥ 1`.
func flagError(fs *flag.FlagSet, err error) string {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		return "unknown flag --" + strings.TrimLeft(name, "-")
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
		return "--" + strings.TrimLeft(name, "-") + " needs a value"
	}
	// invalid value "V" for flag -NAME: REASON (and "invalid boolean value "V" for -NAME: ...")
	for _, pre := range [][2]string{{"invalid value ", " for flag -"}, {"invalid boolean value ", " for -"}} {
		rest, ok := strings.CutPrefix(msg, pre[0])
		if !ok {
			continue
		}
		i := strings.Index(rest, pre[1])
		if i < 0 {
			break
		}
		val, after := rest[:i], rest[i+len(pre[1]):]
		name, reason, _ := strings.Cut(after, ": ")
		switch {
		case strings.HasPrefix(reason, "item "):
			return fmt.Sprintf("--%s: %s", name, strings.TrimPrefix(reason, "item "))
		case strings.HasPrefix(reason, "is not") || strings.HasPrefix(reason, "has ") || strings.HasPrefix(reason, "is empty"):
			return fmt.Sprintf("--%s: %s %s", name, val, reason)
		case reason == "parse error" && pre[0] == "invalid boolean value ":
			return fmt.Sprintf("--%s: %s is not true or false", name, val)
		case reason == "parse error":
			kind := "a valid value"
			if f := fs.Lookup(name); f != nil {
				kind = map[string]string{"int": "an integer", "uint": "a non-negative integer", "float": "a number"}[typeName(f)]
			}
			return fmt.Sprintf("--%s: %s is not %s", name, val, kind)
		case reason == "value out of range":
			return fmt.Sprintf("--%s: %s is out of range", name, val)
		}
		return fmt.Sprintf("--%s: %s: %s", name, val, reason)
	}
	return msg
}
