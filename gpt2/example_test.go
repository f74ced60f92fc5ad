package gpt2_test

import (
	"fmt"
	"log"

	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/toy"
)

// Load a model and read its next-token prediction. toy.Organism is the model embedded in
// mechlens (no file, no network); gpt2.LoadDir reads a Hugging Face folder the same way.
func Example() {
	m, err := toy.Organism() // or gpt2.LoadDir("path/to/gpt2")
	if err != nil {
		log.Fatal(err)
	}
	ids := append([]int{m.Tokenizer.EOT()}, m.Tokenizer.Encode("The capital of Fizeia is")...)
	res, err := m.Run([][]int{ids}, gpt2.RunOptions{Logits: gpt2.LogitsLast})
	if err != nil {
		log.Fatal(err)
	}
	defer res.Release()
	logits := res.Logits[0] // [V] at the last position
	best := 0
	for v, x := range logits {
		if x > logits[best] {
			best = v
		}
	}
	fmt.Printf("%d layers, %d tokens of context\n", m.Config.NLayers, m.Config.NCtx)
	fmt.Printf("next token: %q\n", m.Tokenizer.TokenText(best))
	// Output:
	// 3 layers, 32 tokens of context
	// next token: " Deras"
}

// Run with a cache and a write hook: keep blocks.1.hook_resid_post, and zero one head's
// output (attn.hook_z is [T, n_heads, d_head]) in flight to see what the answer owes it.
func ExampleModel_Run() {
	m, err := toy.Organism()
	if err != nil {
		log.Fatal(err)
	}
	ids := append([]int{m.Tokenizer.EOT()}, m.Tokenizer.Encode("The capital of Fizeia is")...)
	deras, err := m.Tokenizer.TokenID(" Deras")
	if err != nil {
		log.Fatal(err)
	}
	clean, err := m.Run([][]int{ids}, gpt2.RunOptions{Logits: gpt2.LogitsLast, Cache: []string{gpt2.ResidPost(1)}})
	if err != nil {
		log.Fatal(err)
	}
	resid := clean.Cache[0][gpt2.ResidPost(1)]
	fmt.Println(gpt2.ResidPost(1), resid.Shape)

	layer, head := 2, 0
	dHead := m.Config.DModel / m.Config.NHeads
	zero := gpt2.Hook{Name: gpt2.Z(layer), Fn: func(a gpt2.Activation) {
		for t := range a.Shape[0] {
			row := a.Data[(t*m.Config.NHeads+head)*dHead:]
			clear(row[:dHead])
		}
	}}
	ablated, err := m.Run([][]int{ids}, gpt2.RunOptions{Logits: gpt2.LogitsLast, Hooks: []gpt2.Hook{zero}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("logit of \" Deras\": %.1f, %.1f with L2H0 zeroed\n", clean.Logits[0][deras], ablated.Logits[0][deras])
	clean.Release()
	ablated.Release()
	// Output:
	// blocks.1.hook_resid_post [6 128]
	// logit of " Deras": 12.9, 12.6 with L2H0 zeroed
}
