package gpt2

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

var (
	tokGPT2Once sync.Once
	tokGPT2     *Tokenizer
	tokGPT2Err  error
)

// tokLoadGPT2 loads the real GPT-2 vocabulary once for all tests.
func tokLoadGPT2(tb testing.TB) *Tokenizer {
	tb.Helper()
	tokGPT2Once.Do(func() { tokGPT2, tokGPT2Err = LoadTokenizer("../testdata/gpt2-tokenizer") })
	if tokGPT2Err != nil {
		tb.Fatal(tokGPT2Err)
	}
	return tokGPT2
}

type tokCase struct {
	Text   string   `json:"text"`
	Pieces []string `json:"pieces"`
	IDs    []int    `json:"ids"`
}

func tokReadCases(tb testing.TB, path string) []tokCase {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var cases []tokCase
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var c tokCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			tb.Fatalf("%s: %v", path, err)
		}
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return cases
}

// tokSpecialExpected turns reference ids that spell <|endoftext|> as plain text into
// Hugging Face's ids, which give it the single id 50256: the reference tokens of the text
// around the special token are kept, so they must end and start exactly at its edges.
func tokSpecialExpected(t *testing.T, tok *Tokenizer, c tokCase) []int {
	at := strings.Index(c.Text, tokEOT)
	var want []int
	pos := 0
	for _, id := range c.IDs {
		end := pos + len(tok.TokenText(id))
		switch {
		case end <= at || pos >= at+len(tokEOT):
			want = append(want, id)
		case pos == at:
			want = append(want, 50256)
		case pos < at || end > at+len(tokEOT):
			t.Fatalf("%q: reference token %d spans [%d,%d), across the special token at [%d,%d)",
				c.Text, id, pos, end, at, at+len(tokEOT))
		}
		pos = end
	}
	return want
}

func TestEncodeReferenceCases(t *testing.T) {
	tok := tokLoadGPT2(t)
	cases := tokReadCases(t, "../testdata/tokenizer-cases.jsonl")
	if len(cases) != 161 {
		t.Fatalf("got %d cases, want 161", len(cases))
	}
	specials := 0
	for _, c := range cases {
		want := c.IDs
		if strings.Contains(c.Text, tokEOT) {
			specials++
			want = tokSpecialExpected(t, tok, c)
		}
		if got := tok.Encode(c.Text); !slices.Equal(got, want) {
			t.Errorf("Encode(%q)\n got %v\nwant %v", c.Text, got, want)
		}
	}
	if specials != 1 {
		t.Errorf("%d cases contain %s, want 1", specials, tokEOT)
	}
}

func TestEncodeSpecialCaseExpectation(t *testing.T) {
	tok := tokLoadGPT2(t)
	c := tokCase{Text: "<|endoftext|> is literal text here", IDs: []int{27, 91, 437, 1659, 5239, 91, 29, 318, 18875, 2420, 994}}
	want := []int{50256, 318, 18875, 2420, 994}
	if got := tokSpecialExpected(t, tok, c); !slices.Equal(got, want) {
		t.Fatalf("expected ids %v, want %v", got, want)
	}
}

// tok-pretokenize.jsonl holds the pieces of Python's `regex` module and the ids of
// encoder.py's algorithm (see tok-reference.py) for whitespace, class and contraction
// corner cases and random mixes.
func TestPretokenizeReference(t *testing.T) {
	tok := tokLoadGPT2(t)
	for _, c := range tokReadCases(t, "testdata/tok-pretokenize.jsonl") {
		var pieces []string
		for i := 0; i < len(c.Text); {
			j := tokNextPiece(c.Text, i)
			pieces = append(pieces, c.Text[i:j])
			i = j
		}
		if !slices.Equal(pieces, c.Pieces) {
			t.Errorf("pieces of %q\n got %q\nwant %q", c.Text, pieces, c.Pieces)
		}
		if got := tok.Encode(c.Text); !slices.Equal(got, c.IDs) {
			t.Errorf("Encode(%q)\n got %v\nwant %v", c.Text, got, c.IDs)
		}
	}
}

func TestEncodeSpecialTokens(t *testing.T) {
	tok := tokLoadGPT2(t)
	tests := []struct {
		text string
		want []int
	}{
		{"<|endoftext|>", []int{50256}},
		{"a<|endoftext|>b", []int{64, 50256, 65}},
		{"<|endoftext|><|endoftext|>", []int{50256, 50256}},
		{" <|endoftext|>", []int{220, 50256}},
		// Text before a special token is pre-tokenized as if it ended there.
		{"x  <|endoftext|>", []int{87, 220, 220, 50256}},
		{"\n\n<|endoftext|>\n\n", []int{628, 50256, 628}},
		{"<|endoftext|", []int{27, 91, 437, 1659, 5239, 91}},
		{"<|<|endoftext|>", []int{27, 91, 50256}},
	}
	for _, tc := range tests {
		if got := tok.Encode(tc.text); !slices.Equal(got, tc.want) {
			t.Errorf("Encode(%q) = %v, want %v", tc.text, got, tc.want)
		}
	}
	// Leftmost, then longest, among several added tokens.
	small, err := tokFromFiles(tokByteVocab(), nil, map[string]int{"<x>": 256, "<x><y>": 257, "y>": 258}, "vocab", "merges")
	if err != nil {
		t.Fatal(err)
	}
	for text, want := range map[string][]int{"<x><y>": {257}, "<x><x>": {256, 256}, "<<x>y>": {27, 256, 258}} {
		if got := small.Encode(text); !slices.Equal(got, want) {
			t.Errorf("Encode(%q) = %v, want %v", text, got, want)
		}
	}
	if got := tok.EOT(); got != 50256 {
		t.Errorf("EOT() = %d, want 50256", got)
	}
	if got := tok.VocabSize(); got != 50257 {
		t.Errorf("VocabSize() = %d, want 50257", got)
	}
}

func TestLooksSpecial(t *testing.T) {
	for tok, want := range map[string]bool{"<|endoftext|>": true, "<|im_start|>": true, "<|pad0|>": true,
		"<|||>": false, "<||>": false, "<|x": false, "x|>": false, "<|a b|>": false, "<|x|><|y|>": false} {
		if got := tokLooksSpecial(tok); got != want {
			t.Errorf("tokLooksSpecial(%q) = %v, want %v", tok, got, want)
		}
	}
}

func TestDecodeAndTokenText(t *testing.T) {
	tok := tokLoadGPT2(t)
	tests := []struct {
		ids  []int
		want string
	}{
		{[]int{15496, 11, 995, 0}, "Hello, world!"},
		{[]int{8582, 97, 244}, "🤖"},
		{[]int{8582}, "\xf0\x9f"}, // the first two bytes of 🤖, kept as bytes
		{[]int{50256, 317}, "<|endoftext|> A"},
		{[]int{-1, 50257}, "\uFFFD\uFFFD"},
		{nil, ""},
	}
	for _, tc := range tests {
		if got := tok.Decode(tc.ids); got != tc.want {
			t.Errorf("Decode(%v) = %q, want %q", tc.ids, got, tc.want)
		}
	}
	for id, want := range map[int]string{317: " A", 198: "\n", 220: " ", 0: "!", 188: "\x00", 97: "\xa4"} {
		if got := tok.TokenText(id); got != want {
			t.Errorf("TokenText(%d) = %q, want %q", id, got, want)
		}
	}
}

func TestTokenID(t *testing.T) {
	tok := tokLoadGPT2(t)
	tests := []struct {
		text    string
		want    int
		wantErr string
	}{
		{" A", 317, ""},
		{" Foo", 36080, ""},
		{"\n\n", 628, ""},
		{"<|endoftext|>", 50256, ""},
		{" Answer:", -1, `tokenizer: " Answer:" is 2 tokens [" Answer" ":"], want exactly one`},
		{"🤖", -1, `tokenizer: "🤖" is 3 tokens ["\xf0\x9f" "\xa4" "\x96"], want exactly one`},
		{"", -1, `tokenizer: unknown token ""`},
	}
	for _, tc := range tests {
		got, err := tok.TokenID(tc.text)
		if got != tc.want || (err == nil) != (tc.wantErr == "") || err != nil && err.Error() != tc.wantErr {
			t.Errorf("TokenID(%q) = %d, %v; want %d, %q", tc.text, got, err, tc.want, tc.wantErr)
		}
	}
}

// tokCheckRoundTrip asserts Decode(Encode(s)) == s and that offsets tile s, each span
// holding its token's bytes.
func tokCheckRoundTrip(t *testing.T, tok *Tokenizer, s string) {
	t.Helper()
	ids, offs := tok.EncodeWithOffsets(s)
	if got := tok.Decode(ids); got != s {
		t.Fatalf("Decode(Encode(%q)) = %q", s, got)
	}
	if !slices.Equal(ids, tok.Encode(s)) {
		t.Fatalf("EncodeWithOffsets(%q) ids differ from Encode", s)
	}
	if len(offs) != len(ids) {
		t.Fatalf("%q: %d offsets for %d ids", s, len(offs), len(ids))
	}
	pos := 0
	for i, off := range offs {
		if off[0] != pos || off[1] < off[0] || off[1] > len(s) {
			t.Fatalf("%q: token %d span %v, want start %d within [0,%d]", s, i, off, pos, len(s))
		}
		if span := s[off[0]:off[1]]; span != tok.TokenText(ids[i]) {
			t.Fatalf("%q: token %d span %q, token text %q", s, i, span, tok.TokenText(ids[i]))
		}
		pos = off[1]
	}
	if pos != len(s) {
		t.Fatalf("%q: spans end at %d, want %d", s, pos, len(s))
	}
}

func TestEncodeOffsets(t *testing.T) {
	tok := tokLoadGPT2(t)
	tests := []struct {
		text string
		want [][2]int
	}{
		{"Hello, world!", [][2]int{{0, 5}, {5, 6}, {6, 12}, {12, 13}}},
		{"🤖", [][2]int{{0, 2}, {2, 3}, {3, 4}}},
		{"a<|endoftext|> b", [][2]int{{0, 1}, {1, 14}, {14, 16}}},
		{"", nil},
	}
	for _, tc := range tests {
		if _, got := tok.EncodeWithOffsets(tc.text); !slices.Equal(got, tc.want) {
			t.Errorf("offsets of %q = %v, want %v", tc.text, got, tc.want)
		}
		tokCheckRoundTrip(t, tok, tc.text)
	}
}

var tokRandomPool = []string{
	"a", "Z", "é", "ß", "ж", "Ω", "東京", "タ", "ا", "ה", "\u0301", "ก", "0", "42", "٣", "²", "Ⅻ",
	" ", " ", "   ", "\t", "\n", "\r\n", "\n\n", "\x0b", "\x1c", "\u0085", "\u00a0", "\u3000", "\u2028",
	"'", "'s", "'ll", "'RE", "!", "?", ".", ",", "-", "<|", "|>", "<|endoftext|>", "\x00", "\x7f",
	"🤖", "👩‍👩‍👧", "🇯🇵", "\ufffd", "word", " word", "Hello", "don't", " 2026",
}

func TestEncodeRandomRoundTrip(t *testing.T) {
	tok := tokLoadGPT2(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		var b strings.Builder
		for range 1 + rng.IntN(30) {
			b.WriteString(tokRandomPool[rng.IntN(len(tokRandomPool))])
		}
		tokCheckRoundTrip(t, tok, b.String())
	}
}

func FuzzTokenizerRoundTrip(f *testing.F) {
	for _, s := range []string{"", "Hello, world!", "  leading", "trailing  ", "a\r\n\r\n b", "I'M you're",
		"東京タワー 🤖🚀", "x\u00a0\u0085\x1c y", "1,000,000", "<|endoftext|>x", "\xff\xfe invalid \xc3"} {
		f.Add(s)
	}
	tok := tokLoadGPT2(f)
	f.Fuzz(func(t *testing.T, s string) {
		// Byte-level BPE keeps every byte, so the round trip holds for invalid UTF-8 too.
		tokCheckRoundTrip(t, tok, s)
	})
}

func TestEncodeConcurrent(t *testing.T) {
	tok := tokLoadGPT2(t)
	cases := tokReadCases(t, "../testdata/tokenizer-cases.jsonl")
	want := make([][]int, len(cases))
	for i, c := range cases {
		want[i] = tok.Encode(c.Text)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for g := range 4 {
		wg.Go(func() {
			for i := range cases {
				c := cases[(i+g*40)%len(cases)]
				if got := tok.Encode(c.Text); !slices.Equal(got, want[(i+g*40)%len(cases)]) {
					errs <- fmt.Sprintf("goroutine %d: Encode(%q) = %v", g, c.Text, got)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// tokByteVocab returns the 256 byte tokens in the byte-level alphabet, ids in GPT-2 order.
func tokByteVocab() map[string]int {
	v := make(map[string]int, 256)
	for id, b := range bpeByteOrder {
		v[string(tokByteRune[b])] = id
	}
	return v
}

func TestBPEMergeOrder(t *testing.T) {
	vocab := tokByteVocab()
	for i, tok := range []string{"aa", "aaaa", "bc", "ab", "ĠĠ"} {
		vocab[tok] = 256 + i
	}
	merges := [][2]string{{"a", "a"}, {"b", "c"}, {"aa", "aa"}, {"a", "b"}, {"Ġ", "Ġ"}}
	tok, err := NewTokenizer(vocab, merges)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		text string
		want []string
	}{
		{"aaa", []string{"aa", "a"}},             // left to right, no overlap
		{"aaaaa", []string{"aaaa", "a"}},         // every occurrence of the best pair per round
		{"abc", []string{"a", "bc"}},             // lowest rank first: (b,c) beats (a,b)
		{"abab", []string{"ab", "ab"}},           // all occurrences
		{"    x", []string{"  ", " ", " ", "x"}}, // "\s+(?!\S)" gives the last space to " x"
	}
	for _, tc := range tests {
		var got []string
		for _, id := range tok.Encode(tc.text) {
			got = append(got, tok.TokenText(id))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("Encode(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
}

func TestWriteFilesRoundTrip(t *testing.T) {
	tok := tokLoadGPT2(t)
	dir := t.TempDir()
	if err := tok.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	// The written files hold the same vocabulary and merges as GPT-2's own.
	var orig, written map[string]int
	for path, v := range map[string]*map[string]int{"../testdata/gpt2-tokenizer/vocab.json": &orig, filepath.Join(dir, "vocab.json"): &written} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, v); err != nil {
			t.Fatal(err)
		}
	}
	if len(orig) != len(written) {
		t.Fatalf("vocab.json: %d entries, want %d", len(written), len(orig))
	}
	for k, id := range orig {
		if written[k] != id {
			t.Fatalf("vocab.json: %q = %d, want %d", k, written[k], id)
		}
	}
	origMerges, _ := os.ReadFile("../testdata/gpt2-tokenizer/merges.txt")
	gotMerges, _ := os.ReadFile(filepath.Join(dir, "merges.txt"))
	if strings.TrimSpace(string(origMerges)) != strings.TrimSpace(string(gotMerges)) {
		t.Fatal("merges.txt differs from GPT-2's")
	}
	back, err := LoadTokenizer(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range tokReadCases(t, "../testdata/tokenizer-cases.jsonl") {
		if got, want := back.Encode(c.Text), tok.Encode(c.Text); !slices.Equal(got, want) {
			t.Fatalf("reloaded Encode(%q) = %v, want %v", c.Text, got, want)
		}
	}
}

// TestLoadTokenizerJSON writes a small vocabulary both as vocab.json+merges.txt and as
// tokenizer.json (each merge format) and checks that they encode alike.
func TestLoadTokenizerJSON(t *testing.T) {
	texts := []string{"the cat sat on the mat", "the dog sat on the log", "a cat and a dog"}
	small, err := TrainBPE(texts, 270, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := small.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	fromFiles, err := LoadTokenizer(dir)
	if err != nil {
		t.Fatal(err)
	}
	vocab := map[string]int{}
	for id := range small.VocabSize() {
		vocab[tokToByteLevel(small.TokenText(id))] = id
	}
	vocab["<|ü|>"] = 271 // an added token listed in model.vocab as raw text, not byte-level
	var asStrings []string
	var asPairs [][2]string
	for _, m := range small.merges {
		a, b := tokToByteLevel(small.TokenText(int(m[0]))), tokToByteLevel(small.TokenText(int(m[1])))
		asStrings = append(asStrings, a+" "+b)
		asPairs = append(asPairs, [2]string{a, b})
	}
	for name, merges := range map[string]any{"strings": asStrings, "pairs": asPairs} {
		t.Run(name, func(t *testing.T) {
			doc := map[string]any{
				"version": "1.0",
				"added_tokens": []map[string]any{
					{"id": 269, "content": "<|endoftext|>", "special": true},
					{"id": 270, "content": "[PAD]", "special": true},
					{"id": 271, "content": "<|ü|>", "special": true},
				},
				"pre_tokenizer": map[string]any{"type": "ByteLevel", "add_prefix_space": false},
				"model":         map[string]any{"type": "BPE", "vocab": vocab, "merges": merges},
			}
			data, _ := json.Marshal(doc)
			jdir := t.TempDir()
			if err := os.WriteFile(filepath.Join(jdir, "tokenizer.json"), data, 0o644); err != nil {
				t.Fatal(err)
			}
			fromJSON, err := LoadTokenizer(jdir)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range append(texts, "the cat<|endoftext|>a mat", "dogs and cats 🐈") {
				if got, want := fromJSON.Encode(s), fromFiles.Encode(s); !slices.Equal(got, want) {
					t.Errorf("tokenizer.json Encode(%q) = %v, vocab.json+merges.txt gives %v", s, got, want)
				}
			}
			if got := fromJSON.Encode("a[PAD]"); !slices.Equal(got, []int{fromFiles.Encode("a")[0], 270}) {
				t.Errorf("added token [PAD]: Encode = %v, want [a 270]", got)
			}
			if got := fromJSON.Encode("<|ü|>"); !slices.Equal(got, []int{271}) {
				t.Errorf("added token <|ü|>: Encode = %v, want [271]", got)
			}
			if fromJSON.VocabSize() != 272 || fromJSON.EOT() != 269 {
				t.Errorf("VocabSize, EOT = %d, %d, want 272, 269", fromJSON.VocabSize(), fromJSON.EOT())
			}
		})
	}
}

func TestLoadTokenizerErrors(t *testing.T) {
	byteVocab, _ := json.Marshal(tokByteVocab())
	withAB := tokByteVocab()
	withAB["ab"] = 256
	withABJSON, _ := json.Marshal(withAB)
	tests := []struct {
		name  string
		files map[string]string
		want  string // with DIR for the folder
	}{
		{"empty folder", nil, "tokenizer: DIR: no vocab.json+merges.txt or tokenizer.json"},
		{"no merges", map[string]string{"vocab.json": string(byteVocab)},
			"tokenizer: DIR/merges.txt: no such file or directory"},
		{"bad vocab json", map[string]string{"vocab.json": "{", "merges.txt": ""},
			"tokenizer: DIR/vocab.json: not valid JSON: unexpected end of JSON input"},
		{"vocab ids not numbers", map[string]string{"vocab.json": `{"a": "b"}`, "merges.txt": "#version: 0.2\n"},
			"tokenizer: DIR/vocab.json: a JSON string where an integer is expected"},
		{"bad merge line", map[string]string{"vocab.json": string(withABJSON), "merges.txt": "#version: 0.2\na b\nab\n"},
			`tokenizer: DIR/merges.txt: line 3: merge "ab" is not two tokens separated by a space`},
		{"binary merges", map[string]string{"vocab.json": string(byteVocab), "merges.txt": strings.Repeat("\x00\xff", 1000)},
			`tokenizer: DIR/merges.txt: line 1: merge "` + strings.Repeat(`\x00\xff`, 28) + `\x00..." is not two tokens separated by a space`},
		{"merge not in vocab", map[string]string{"vocab.json": string(byteVocab), "merges.txt": "a b\n"},
			`tokenizer: DIR/merges.txt: merge 0 "a b": "a", "b" or their concatenation is not in the vocab`},
		{"missing byte", map[string]string{"vocab.json": `{"a": 0}`, "merges.txt": ""},
			`tokenizer: DIR/vocab.json: no token for byte 0x00 ("Ā")`},
		{"shared id", map[string]string{"vocab.json": `{"a": 0, "b": 0}`, "merges.txt": ""},
			`tokenizer: DIR/vocab.json: tokens "a" and "b" share id 0`},
		{"negative id", map[string]string{"vocab.json": `{"a": -1}`, "merges.txt": ""},
			`tokenizer: DIR/vocab.json: token "a" has id -1 outside [0, 16777216)`},
		{"empty token", map[string]string{"vocab.json": `{"": 3}`, "merges.txt": ""},
			`tokenizer: DIR/vocab.json: empty token with id 3`},
		{"not byte-level", map[string]string{"vocab.json": `{"a b": 3}`, "merges.txt": ""},
			`tokenizer: DIR/vocab.json: token "a b" is not in the byte-level alphabet`},
		{"wordpiece json", map[string]string{"tokenizer.json": `{"model": {"type": "WordPiece"}}`},
			`tokenizer: DIR/tokenizer.json: model type "WordPiece", want BPE`},
		{"bad json merge", map[string]string{"tokenizer.json": `{"model": {"type": "BPE", "vocab": {}, "merges": [3]}}`},
			`tokenizer: DIR/tokenizer.json: model.merges[0]: merge 3 is neither "a b" nor ["a", "b"]`},
		{"json missing byte", map[string]string{"tokenizer.json": `{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}`},
			`tokenizer: DIR/tokenizer.json: model.vocab: no token for byte 0x00 ("Ā")`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := LoadTokenizer(dir)
			want := strings.ReplaceAll(tc.want, "DIR", dir)
			if err == nil || err.Error() != want {
				t.Fatalf("LoadTokenizer error = %v\nwant %s", err, want)
			}
		})
	}
}

func TestNewTokenizerErrors(t *testing.T) {
	vocab := tokByteVocab()
	if _, err := NewTokenizer(vocab, [][2]string{{"a", "b"}}); err == nil ||
		err.Error() != `tokenizer: merges: merge 0 "a b": "a", "b" or their concatenation is not in the vocab` {
		t.Errorf("error = %v", err)
	}
	if _, err := NewTokenizer(vocab, [][2]string{{"a", "b c"}}); err == nil ||
		err.Error() != `tokenizer: merges: merge 0 "a b c": not in the byte-level alphabet` {
		t.Errorf("error = %v", err)
	}
	tok, err := NewTokenizer(vocab, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok.EOT() != -1 || tok.VocabSize() != 256 {
		t.Errorf("EOT, VocabSize = %d, %d, want -1, 256", tok.EOT(), tok.VocabSize())
	}
	if got := tok.Encode("<|endoftext|>"); len(got) != len("<|endoftext|>") {
		t.Errorf("without the token, <|endoftext|> encodes to %v, want one byte token each", got)
	}
}

func BenchmarkEncode(b *testing.B) {
	tok := tokLoadGPT2(b)
	var sb strings.Builder
	for _, c := range tokReadCases(b, "../testdata/tokenizer-cases.jsonl") {
		sb.WriteString(c.Text)
		sb.WriteString("\n")
	}
	text := sb.String()
	n := len(tok.Encode(text))
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	for b.Loop() {
		tok.Encode(text)
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// tokMergeReference is encoder.py's bpe() loop written plainly: each round finds the
// lowest-ranked adjacent pair and merges all its occurrences, left to right without
// overlap. tokMerge must agree with it.
func tokMergeReference(ranks map[uint64]uint64, syms []int32) []int32 {
	if len(syms) < 2 {
		return syms
	}
	var buf [32]uint64
	pairs := buf[:0] // pairs[i]: rank<<32|merged id of (syms[i], syms[i+1]), or tokNoMerge
	for i := 0; i+1 < len(syms); i++ {
		pairs = append(pairs, tokRank(ranks, syms[i], syms[i+1]))
	}
	for len(syms) > 1 {
		best := slices.Min(pairs)
		if best == tokNoMerge {
			break
		}
		// Ranks are unique per pair, so pairs[i] == best identifies an occurrence; pairs
		// still describes the word before this round, as the reference's scan does.
		n := 0
		for i := 0; i < len(syms); n++ {
			if i+1 < len(syms) && pairs[i] == best {
				syms[n] = int32(uint32(best))
				i += 2
			} else {
				syms[n] = syms[i]
				i++
			}
		}
		syms, pairs = syms[:n], pairs[:n-1]
		for i := range pairs {
			pairs[i] = tokRank(ranks, syms[i], syms[i+1])
		}
	}
	return syms
}

func TestTokMergeMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	check := func(ranks map[uint64]uint64, b []byte, ids [256]int32) {
		t.Helper()
		syms := make([]int32, len(b))
		for i, c := range b {
			syms[i] = ids[c]
		}
		want := tokMergeReference(ranks, slices.Clone(syms))
		if got := tokMerge(ranks, syms); !slices.Equal(got, want) {
			t.Fatalf("merging %q: got %v, reference %v", b, got, want)
		}
	}

	// GPT-2's merges on long pieces (where the heap matters) and mixed text.
	tok := tokLoadGPT2(t)
	for range 300 {
		var b []byte
		for range 1 + rng.IntN(400) {
			if rng.IntN(8) == 0 {
				b = append(b, tokRandomPool[rng.IntN(len(tokRandomPool))]...)
			} else {
				b = append(b, byte('a'+rng.IntN(26)))
			}
		}
		check(tok.ranks, b, tok.byteIDs)
	}

	// Random merge lists over a 3-letter alphabet, ranked in any order: merges whose parts
	// appear only later, chains, and pairs of equal tokens.
	var ids [256]int32
	for c := range 256 {
		ids[c] = int32(c)
	}
	for range 200 {
		tokens := []string{"a", "b", "c"}
		byText := map[string]int32{"a": 'a', "b": 'b', "c": 'c'}
		ranks := map[uint64]uint64{}
		for rank := range 2 + rng.IntN(12) {
			x, y := tokens[rng.IntN(len(tokens))], tokens[rng.IntN(len(tokens))]
			id, ok := byText[x+y]
			if !ok {
				id = int32(256 + len(byText))
				byText[x+y] = id
				tokens = append(tokens, x+y)
			}
			ranks[tokPair(byText[x], byText[y])] = uint64(rank)<<32 | uint64(id)
		}
		for range 20 {
			b := make([]byte, 1+rng.IntN(40))
			for i := range b {
				b[i] = "abc"[rng.IntN(3)]
			}
			check(ranks, b, ids)
		}
	}
}
