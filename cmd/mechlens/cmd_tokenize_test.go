package main

import (
	"encoding/json"
	"slices"
	"testing"
)

// TestTokenizeBuiltinGPT2: without the hub, --model gpt2 tokenizes with the tokenizer built
// into the binary, and random: models of GPT-2's vocabulary borrow it.
func TestTokenizeBuiltinGPT2(t *testing.T) {
	t.Setenv("HF_HUB_CACHE", t.TempDir())
	t.Setenv("HF_HUB_OFFLINE", "1")
	for _, model := range []string{"gpt2", "distilbert/distilgpt2", "random:" + tiny + "/config.json"} {
		out, errOut, code := runCommand(t, "", "tokenize", "--model", model, "--json", "Question: Answer: A")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", model, code, errOut)
		}
		var got tokenizeOutput
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatal(err)
		}
		// Hugging Face's ids (tokenizer-cases.jsonl: "Answer:" is 33706, 25; " A" is 317).
		if want := []int{24361, 25, 23998, 25, 317}; !slices.Equal(got.IDs, want) {
			t.Errorf("%s: ids %v, want %v", model, got.IDs, want)
		}
	}
	// A name that is not a GPT-2 checkpoint has no fallback.
	wantExit(t, 1, "is not in the cache", "tokenize", "--model", "someone/else", "x")
}
