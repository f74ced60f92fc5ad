package gpt2

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func tokTexts(tb testing.TB) []string {
	var texts []string
	for _, c := range tokReadCases(tb, "../testdata/tokenizer-cases.jsonl") {
		texts = append(texts, c.Text)
	}
	return texts
}

func tokMergeTexts(tok *Tokenizer) []string {
	var out []string
	for _, m := range tok.merges {
		out = append(out, tok.TokenText(int(m[0]))+"+"+tok.TokenText(int(m[1])))
	}
	return out
}

func TestTrainBPESmallCorpus(t *testing.T) {
	// Pieces "ab", " ab" x2, " ac". Pair counts: (" ","a") 3 and ("a","b") 3 tie, and " " < "a";
	// then (" a","b") 2; then (" a","c") 1 and ("a","b") 1 tie, and " a" < "a".
	tests := []struct {
		name string
		must []string
		want []string
	}{
		{"greedy", nil, []string{" +a", " a+b", " a+c", "a+b"}},
		// "xyz" takes two merges after the first two greedy ones, which make room for it.
		{"must be single", []string{"xyz", " ab", tokEOT}, []string{" +a", " a+b", "x+y", "xy+z"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := TrainBPE([]string{"ab ab ab ac<|endoftext|>"}, 261, tc.must)
			if err != nil {
				t.Fatal(err)
			}
			if got := tokMergeTexts(tok); !slices.Equal(got, tc.want) {
				t.Errorf("merges %q, want %q", got, tc.want)
			}
			if tok.VocabSize() != 261 || tok.EOT() != 260 {
				t.Errorf("VocabSize, EOT = %d, %d, want 261, 260", tok.VocabSize(), tok.EOT())
			}
			for _, s := range tc.must {
				if ids := tok.Encode(s); len(ids) != 1 {
					t.Errorf("Encode(%q) = %v, want one token", s, ids)
				}
			}
		})
	}
}

func TestTrainBPEDeterministicAndReloadable(t *testing.T) {
	texts := tokTexts(t)
	must := []string{" Mary", " John", " A", " B", " C", " D", "Answer", ":", " Zanzibar", "<|endoftext|>"}
	gpt2 := tokLoadGPT2(t)
	var files [2][2][]byte
	var toks [2]*Tokenizer
	for run := range 2 {
		tok, err := TrainBPE(texts, 600, must)
		if err != nil {
			t.Fatal(err)
		}
		toks[run] = tok
		dir := t.TempDir()
		if err := tok.WriteFiles(dir); err != nil {
			t.Fatal(err)
		}
		for i, name := range []string{"vocab.json", "merges.txt"} {
			if files[run][i], err = os.ReadFile(filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
		}
		back, err := LoadTokenizer(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range append(texts, "unseen wörds, 🤖 and <|endoftext|> too") {
			ids := tok.Encode(s)
			if got := back.Encode(s); !slices.Equal(got, ids) {
				t.Fatalf("reloaded Encode(%q) = %v, want %v", s, got, ids)
			}
			if got := tok.Decode(ids); got != s {
				t.Fatalf("Decode(Encode(%q)) = %q", s, got)
			}
		}
	}
	for i := range files[0] {
		if !bytes.Equal(files[0][i], files[1][i]) {
			t.Errorf("file %d differs between two runs", i)
		}
	}
	tok := toks[0]
	if tok.VocabSize() != 600 || tok.EOT() != 599 {
		t.Errorf("VocabSize, EOT = %d, %d, want 600, 599", tok.VocabSize(), tok.EOT())
	}
	for id := range 256 {
		if got, want := tok.TokenText(id), gpt2.TokenText(id); got != want {
			t.Errorf("byte token %d = %q, GPT-2 has %q", id, got, want)
		}
	}
	for _, s := range must {
		if ids := tok.Encode(s); len(ids) != 1 {
			t.Errorf("Encode(%q) = %v, want one token", s, ids)
		}
	}
	// Frequent words of the corpus become single tokens.
	for _, s := range []string{" the", " of", " License"} {
		if _, err := tok.TokenID(s); err != nil {
			t.Errorf("TokenID(%q): %v", s, err)
		}
	}
}

func TestTrainBPEErrors(t *testing.T) {
	tests := []struct {
		name  string
		texts []string
		size  int
		must  []string
		want  string
	}{
		{"too small", []string{"abc"}, 256, nil,
			"tokenizer: train: vocab size 256, want at least 257 (256 bytes and <|endoftext|>)"},
		{"two pieces", []string{"abc"}, 258, []string{"Hello world"},
			`tokenizer: train: "Hello world" is 2 pre-tokens, cannot be one token`},
		{"empty", []string{"abc"}, 258, []string{""},
			`tokenizer: train: "" is 0 pre-tokens, cannot be one token`},
		{"corpus exhausted", []string{"abc abc"}, 300, nil,
			"tokenizer: train: corpus yields only 260 tokens, want 300"},
		{"no room", []string{"abc"}, 258, []string{"xyz"},
			"tokenizer: train: vocab size 258 leaves no room for the tokens of mustBeSingle"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := TrainBPE(tc.texts, tc.size, tc.must)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error = %v, want %s", err, tc.want)
			}
		})
	}
}
