package main

import (
	"slices"
	"testing"

	"github.com/mechlens/mechlens/internal/modelspec"
)

// runIDs returns the prompt ids that run --json reports for argv (after "run").
func runIDs(t *testing.T, stdin string, argv ...string) []int {
	t.Helper()
	out, errOut, code := runCommand(t, stdin, append([]string{"run", "--json", "--top", "1"}, argv...)...)
	if code != 0 {
		t.Fatalf("%q: exit %d: %s", argv, code, errOut)
	}
	var got runOutput
	decodeStrict(t, out, &got)
	return got.IDs
}

// A prompt on standard input ends with the newline echo adds; it is not part of the prompt.
func TestStdinPromptLosesOneNewline(t *testing.T) {
	arg := runIDs(t, "", "--model", tiny, "Hello world")
	for _, in := range []string{"Hello world\n", "Hello world\r\n"} {
		if got := runIDs(t, in, "--model", tiny, "-"); !slices.Equal(got, arg) {
			t.Errorf("stdin %q: ids %v, want %v as the argument gives", in, got, arg)
		}
	}
	if got := runIDs(t, "Hello world\n\n", "--model", tiny, "-"); len(got) != len(arg)+1 {
		t.Errorf("only one newline is stripped: ids %v", got)
	}
}

// --bos follows one rule in every command, and naming the embedded model is omitting --model.
func TestBOSRule(t *testing.T) {
	m, err := modelspec.Default()
	if err != nil {
		t.Fatal(err)
	}
	eot := m.Tokenizer.EOT()
	implicit := runIDs(t, "", "Hello")
	named := runIDs(t, "", "--model", "mechlens-organism", "Hello")
	if !slices.Equal(implicit, named) || implicit[0] != eot {
		t.Errorf("embedded model ids %v, named %v: both must start with <|endoftext|>", implicit, named)
	}
	if ids := runIDs(t, "", "Hello", "--bos=false"); ids[0] == eot {
		t.Errorf("--bos=false kept <|endoftext|>: %v", ids)
	}
	out, errOut, code := runCommand(t, "", "patch", "--clean-ids", "5,6", "--corrupt-ids", "5,7", "--target", " A", "--sites", "mlp", "--json")
	if code != 0 {
		t.Fatalf("patch: exit %d: %s", code, errOut)
	}
	var p jPatchOutput
	decodeStrict(t, out, &p)
	if len(p.CleanTokens) != 3 || p.CleanTokens[0].ID != eot || p.CorruptTokens[0].ID != eot {
		t.Errorf("patch on the embedded model: tokens %v, %v lack <|endoftext|>", p.CleanTokens, p.CorruptTokens)
	}
}
