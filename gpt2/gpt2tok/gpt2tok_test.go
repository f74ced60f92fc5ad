package gpt2tok

import (
	"bufio"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/mechlens/mechlens/gpt2"
)

// TestTokenizerCases checks the embedded tokenizer against Hugging Face's ids for the shared
// cases (testdata/tokenizer-cases.jsonl: letters, the paper's prompts, Unicode, whitespace)
// and against the tokenizer loaded from the files it was compressed from. The fixture spells
// one case's <|endoftext|> as literal text; mechlens, as Hugging Face's tokenizer, reads it
// as the special token (gpt2's TestEncodeReferenceCases checks that case).
func TestTokenizerCases(t *testing.T) {
	tok, err := Tokenizer()
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() != VocabSize || tok.EOT() != 50256 {
		t.Fatalf("vocabulary %d, <|endoftext|> %d; want %d, 50256", tok.VocabSize(), tok.EOT(), VocabSize)
	}
	files, err := gpt2.LoadTokenizer("../../testdata/gpt2-tokenizer")
	if err != nil {
		t.Fatal(err)
	}
	for id := range VocabSize {
		if tok.TokenText(id) != files.TokenText(id) {
			t.Fatalf("token %d: %q, the files say %q", id, tok.TokenText(id), files.TokenText(id))
		}
	}
	if again, _ := Tokenizer(); again != tok {
		t.Error("a second call parsed the files again")
	}
	f, err := os.Open("../../testdata/tokenizer-cases.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		var c struct {
			Text string `json:"text"`
			IDs  []int  `json:"ids"`
		}
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		got := tok.Encode(c.Text)
		if want := files.Encode(c.Text); !slices.Equal(got, want) {
			t.Errorf("Encode(%q) = %v, the files' tokenizer gives %v", c.Text, got, want)
		}
		if !strings.Contains(c.Text, "<|endoftext|>") && !slices.Equal(got, c.IDs) {
			t.Errorf("Encode(%q) = %v, want %v", c.Text, got, c.IDs)
		}
		n++
	}
	if n < 100 {
		t.Fatalf("read %d cases", n)
	}
}
