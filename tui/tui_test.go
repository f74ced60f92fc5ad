package tui

import (
	"context"
	"flag"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/mechlens/mechlens/edit"
	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/lens"
	"github.com/mechlens/mechlens/toy"
)

var update = flag.Bool("update", false, "rewrite the golden screens in testdata")

const mcq = "Question: Which is red? Answer Choices: A: sky B: apple Answer:"

// organism loads the embedded model with the analysis commands' processing.
func organism(t testing.TB) *gpt2.Model {
	t.Helper()
	m, err := toy.Organism()
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Process("fold_ln", "center_writing_weights", "center_unembed"); err != nil {
		t.Fatal(err)
	}
	return m
}

// newModel is a browser over the organism at 80×24, its first analysis done.
func newModel(t testing.TB, o Options) Model {
	t.Helper()
	if o.Model == nil {
		o.Model = organism(t)
	}
	o.ModelName, o.BOS = "mechlens-organism", true
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return step(t, m, startMsg{}, tea.WindowSizeMsg{Width: 80, Height: 24})
}

// step sends messages to the model as the program would, and runs the commands they return
// to completion in this goroutine, so that a test sees the screen the user would see once the
// computation is done. The text input's cursor blink is not run: it only ticks.
func step(t testing.TB, m Model, msgs ...tea.Msg) Model {
	t.Helper()
	for _, msg := range msgs {
		next, cmd := m.Update(msg)
		m = next.(Model)
		for cmd != nil && m.in == inputNone {
			out := cmd()
			if out == nil {
				break
			}
			if _, ok := out.(tea.QuitMsg); ok {
				break
			}
			next, cmd = m.Update(out)
			m = next.(Model)
		}
	}
	return m
}

// keys turns "a", "enter", "left", ... into key presses; text is typed rune by rune.
func keys(names ...string) []tea.Msg {
	special := map[string]rune{"enter": tea.KeyEnter, "left": tea.KeyLeft, "right": tea.KeyRight, "up": tea.KeyUp,
		"down": tea.KeyDown, "esc": tea.KeyEscape, "space": tea.KeySpace, "tab": tea.KeyTab}
	var out []tea.Msg
	for _, n := range names {
		if c, ok := special[n]; ok {
			out = append(out, tea.KeyPressMsg{Code: c})
			continue
		}
		if n == "ctrl+u" { // clears the input line
			out = append(out, tea.KeyPressMsg{Code: 'u', Mod: tea.ModCtrl})
			continue
		}
		for _, r := range n {
			out = append(out, tea.KeyPressMsg{Code: r, Text: string(r)})
		}
	}
	return out
}

// number matches the numbers a screen prints.
var number = regexp.MustCompile(`[-+]?[0-9]+\.?[0-9]*(e[-+][0-9]+)?`)

// sameScreen compares a screen with its golden copy: the text exactly, the numbers up to
// their last printed digits, since the vectorized and purego kernels round differently.
func sameScreen(t *testing.T, got string) {
	t.Helper()
	path := filepath.Join("testdata", t.Name()+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := string(b)
	gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
	if len(gl) != len(wl) {
		t.Fatalf("%d lines, golden has %d:\n%s", len(gl), len(wl), got)
	}
	for i := range gl {
		if number.ReplaceAllString(gl[i], "#") != number.ReplaceAllString(wl[i], "#") {
			t.Fatalf("line %d:\n got  %q\n want %q\nscreen:\n%s", i, gl[i], wl[i], got)
		}
		gn, wn := number.FindAllString(gl[i], -1), number.FindAllString(wl[i], -1)
		for j := range gn {
			g, _ := strconv.ParseFloat(gn[j], 64)
			w, _ := strconv.ParseFloat(wn[j], 64)
			if math.Abs(g-w) > 1e-3*math.Max(math.Abs(g), math.Abs(w))+2e-4 {
				t.Fatalf("line %d: %s, golden %s:\n got  %q\n want %q", i, gn[j], wn[j], gl[i], wl[i])
			}
		}
	}
}

// screen is what the terminal shows, without colours.
func screen(m Model) string { return ansi.Strip(m.Render()) }

func TestPanes(t *testing.T) {
	base := newModel(t, Options{Prompt: mcq, Audit: mustAudit(t)})
	for _, tc := range []struct {
		name string
		keys []string
	}{
		{"tokens", []string{"1"}},
		{"tokens_cursor", []string{"1", "left", "left"}},
		{"lens", []string{"2"}},
		{"lens_rank_final_scale", []string{"2", "r", "n", "down"}},
		{"lens_logit_diff", []string{"2", "r", "r"}},
		{"attribution", []string{"3", "down"}},
		{"heads", []string{"3", "enter"}},
		{"neurons", []string{"5"}},
		{"neurons_search", []string{"/", " A", "enter"}},
		{"audit", []string{"6", "down"}},
		{"audit_open", []string{"6", "enter"}},
		{"edits_empty", []string{"7"}},
		{"edits_list", []string{"4", "down", "down", "down", "down", "down", "a", "5", "a", "7", "down", "space"}},
		{"tokens_edited", []string{"4", "down", "down", "down", "down", "down", "a", "1"}},
		{"attribution_edited", []string{"4", "down", "down", "down", "down", "down", "a", "3"}},
		{"lens_edited_diff", []string{"4", "down", "down", "down", "down", "down", "a", "2", "v", "v"}},
		{"heads_edited", []string{"4", "down", "down", "down", "down", "down", "a", "v"}},
		{"help", []string{"?"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sameScreen(t, screen(step(t, base, keys(tc.keys...)...)))
		})
	}
}

func mustAudit(t testing.TB) *Audit {
	t.Helper()
	au, err := LoadAudit(filepath.Join("testdata", "audit"))
	if err != nil {
		t.Fatal(err)
	}
	return au
}

// TestScreenFits checks every pane at small and large sizes: exactly the terminal's lines,
// none wider than it.
func TestScreenFits(t *testing.T) {
	m := newModel(t, Options{Prompt: mcq, Audit: mustAudit(t)})
	for _, size := range [][2]int{{80, 24}, {40, 10}, {200, 50}} {
		m := step(t, m, tea.WindowSizeMsg{Width: size[0], Height: size[1]})
		for p := range nPanes {
			m := step(t, m, keys(strconv.Itoa(int(p)+1))...)
			lines := strings.Split(m.Render(), "\n")
			if len(lines) != size[1] {
				t.Errorf("%v pane at %dx%d: %d lines", p, size[0], size[1], len(lines))
			}
			for i, l := range lines {
				if w := ansi.StringWidth(l); w > size[0] {
					t.Errorf("%v pane at %dx%d: line %d is %d cells wide", p, size[0], size[1], i, w)
				}
			}
		}
	}
}

// TestAblateHeadMatchesAttribute types a prompt, ablates a head from the heads pane and
// checks that the logit difference shown for the edited model is the one the attribution
// computes on a copy of the model under the same edit set, saved and loaded as --edits does.
func TestAblateHeadMatchesAttribute(t *testing.T) {
	m := newModel(t, Options{})
	m = step(t, m, keys("e")...)
	m.input.SetValue("")
	m = step(t, m, keys(mcq, "enter", "4", "down", "down", "down", "down", "down", "a")...) // L1H1
	if m.edited == nil || len(m.edits) != 1 {
		t.Fatalf("no edited analysis after a: edits %v, status %q", m.edits, m.status)
	}
	path := filepath.Join(t.TempDir(), "edits.json")
	m = step(t, m, keys("w")...)
	m.input.SetValue(path)
	m = step(t, m, keys("enter")...)
	set, err := edit.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Edits) != 1 || set.Edits[0].String() != "scale_head L1H1 ×0" {
		t.Fatalf("saved edits %v, want scale_head L1H1 ×0", set.Edits)
	}
	ref := organism(t)
	if _, err := set.Apply(ref); err != nil {
		t.Fatal(err)
	}
	a := lens.New(ref)
	tr, err := a.Trace(m.ids, lens.TraceOptions{Heads: true})
	if err != nil {
		t.Fatal(err)
	}
	at, err := a.Attribute(tr, -1, m.target, m.distractor)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(m.edited.LogitDiff-at.Logit) > 1e-5 {
		t.Errorf("edited logit diff %v, attribute under the set %v", m.edited.LogitDiff, at.Logit)
	}
	shown := regexp.MustCompile(`edited ([-+][0-9.]+)`).FindStringSubmatch(screen(m))
	if shown == nil || shown[1] != strconv.FormatFloat(at.Logit, 'f', 4, 64) && shown[1] != "+"+strconv.FormatFloat(at.Logit, 'f', 4, 64) {
		t.Errorf("screen shows %v, attribute says %.4f:\n%s", shown, at.Logit, screen(m))
	}
	for _, p := range at.Parts {
		if p.Name == "L1H1" && p.Value != 0 {
			t.Errorf("the ablated head still contributes %v", p.Value)
		}
	}
	// Toggling the edit off shows the base model alone; undo brings it back.
	m = step(t, m, keys("7", "space")...)
	if m.edited != nil {
		t.Errorf("the edit is off, yet an edited analysis is shown")
	}
	m = step(t, m, keys("u")...)
	if m.edited == nil || !m.edits[0].On {
		t.Errorf("undo did not turn the edit back on")
	}
}

// TestEditsKeepBase checks that editing never touches the model the browser was given.
func TestEditsKeepBase(t *testing.T) {
	o := organism(t)
	before := o.Hash
	ids := o.Tokenizer.Encode(mcq)
	want, err := Analyze(context.Background(), o.Clone(), Request{IDs: ids, Pos: -1, Target: -1, Distractor: -1})
	if err != nil {
		t.Fatal(err)
	}
	m := newModel(t, Options{Model: o, Prompt: mcq})
	m = step(t, m, keys("5", "a", "3", "down", "a")...)
	if len(m.edits) != 2 || m.edited == nil {
		t.Fatalf("edits %v", m.edits)
	}
	got, err := Analyze(context.Background(), o, Request{IDs: ids, Pos: -1, Target: -1, Distractor: -1})
	if err != nil {
		t.Fatal(err)
	}
	if o.Hash != before || got.LogitDiff != want.LogitDiff || len(o.Edits) != 0 || len(o.Interventions) != 0 {
		t.Errorf("the base model changed: logit diff %v, was %v; edits %v", got.LogitDiff, want.LogitDiff, o.Edits)
	}
}

func TestValueVectorRuleAndSteer(t *testing.T) {
	m := newModel(t, Options{Prompt: mcq})
	m = step(t, m, keys("5", "V")...)
	m = step(t, m, keys("enter", "S", "enter")...) // the defaults: α1 = α2 = 1; layer 0, α 4
	if len(m.edits) != 2 || m.status != "" {
		t.Fatalf("edits %v, status %q", m.edits, m.status)
	}
	if k := m.edits[0].Edit.Kind; k != edit.KindValueVector {
		t.Errorf("first edit %s, want value_vector", k)
	}
	if k := m.edits[1].Edit.Kind; k != edit.KindSteer {
		t.Errorf("second edit %s, want steer", k)
	}
	// Steering toward target − distractor raises their logit difference.
	if m.edited.LogitDiff <= m.res.LogitDiff {
		t.Errorf("edited logit diff %v, base %v: steering toward the target should raise it", m.edited.LogitDiff, m.res.LogitDiff)
	}
}

func TestStaleResultDropped(t *testing.T) {
	m := newModel(t, Options{Prompt: mcq})
	old := m.res
	next, _ := m.Update(keys("left")[0]) // starts a request, not run
	m = next.(Model)
	next, _ = m.Update(resultMsg{seq: m.seq - 1, res: &Analysis{}})
	if next.(Model).res != old {
		t.Errorf("a result for an older request replaced the current one")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Analyze(ctx, m.base, m.request()); err != context.Canceled {
		t.Errorf("a cancelled analysis returned %v, want context.Canceled", err)
	}
}

func TestSessionRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.json")
	m := newModel(t, Options{Prompt: mcq, Session: path})
	m = step(t, m, keys("left", "s", "4", "down", "a", "2", "n")...)
	m = step(t, m, tea.KeyPressMsg{Code: 's', Mod: tea.ModCtrl})
	if !strings.HasPrefix(m.status, "session saved") {
		t.Fatalf("status %q", m.status)
	}
	s, ok, err := LoadSession(path)
	if err != nil || !ok {
		t.Fatalf("LoadSession: %v %v", ok, err)
	}
	r := newModel(t, Options{Session: path})
	if err := r.Restore(s); err != nil {
		t.Fatal(err)
	}
	r = step(t, r, startMsg{})
	if r.prompt != m.prompt || r.pos != m.pos || r.target != m.target || r.distractor != m.distractor ||
		r.pane != m.pane || r.norm != m.norm || r.head != m.head || len(r.edits) != 1 {
		t.Errorf("restored %+v\nsaved    %+v", r.session(), m.session())
	}
	if r.edited == nil || r.edited.LogitDiff != m.edited.LogitDiff {
		t.Errorf("the restored edits give another logit difference")
	}
	if _, ok, err := LoadSession(filepath.Join(t.TempDir(), "none.json")); ok || err != nil {
		t.Errorf("a missing session file: %v %v, want no session and no error", ok, err)
	}
	dir := t.TempDir()
	if _, _, err := LoadSession(dir); err == nil || err.Error() != "--session: read "+dir+": is a directory" {
		t.Errorf("a folder as the session file: %v", err)
	}
}

func TestBadInput(t *testing.T) {
	m := newModel(t, Options{Prompt: mcq})
	for _, tc := range []struct {
		keys []string
		want string
	}{
		{[]string{"t", " A B", "enter"}, "is 2 tokens"},
		{[]string{"1", "a"}, "select a head or a neuron first"},
		{[]string{"3", "x"}, ""},
		{[]string{"L", "/nonexistent.json", "enter"}, "does not exist"},
		{[]string{"e", "ctrl+u", "enter"}, "the prompt is empty"},
		{[]string{"3", "x", "ctrl+u", "half", "enter"}, `"half" is not a number`},
	} {
		got := step(t, m, keys(tc.keys...)...)
		if tc.want == "" {
			continue
		}
		if !strings.Contains(got.status, tc.want) {
			t.Errorf("%v: status %q, want it to contain %q", tc.keys, got.status, tc.want)
		}
	}
	if _, err := New(Options{Model: organism(t), Prompt: strings.Repeat("red ", 40)}); err == nil || !strings.Contains(err.Error(), "more than the model's context") {
		t.Errorf("a prompt longer than the context: %v", err)
	}
	if _, err := LoadAudit(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a finished audit folder") {
		t.Errorf("an empty audit folder: %v", err)
	}
}

func TestStrongestMLPs(t *testing.T) {
	at := &lens.Attribution{Parts: []lens.Part{
		{Name: "L0.mlp", Kind: lens.PartMLP, Layer: 0, Value: 0.1},
		{Name: "L0H0", Kind: lens.PartHead, Layer: 0, Value: 9},
		{Name: "L1.mlp", Kind: lens.PartMLP, Layer: 1, Value: -3},
		{Name: "L2.mlp", Kind: lens.PartMLP, Layer: 2, Value: 0.5},
		{Name: "L3.mlp", Kind: lens.PartMLP, Layer: 3, Value: 2},
	}}
	if got := strongestMLPs(at, 2); !slices.Equal(got, []int{1, 3}) {
		t.Errorf("the two strongest MLPs are in layers %v, want [1 3] (by |effect|, in model order)", got)
	}
	if got := strongestMLPs(at, 9); !slices.Equal(got, []int{0, 1, 2, 3}) {
		t.Errorf("with room for all: %v", got)
	}
}
