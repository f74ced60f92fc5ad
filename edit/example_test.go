package edit_test

import (
	"fmt"
	"log"

	"github.com/mechlens/mechlens/edit"
	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/toy"
)

// An edit set: ablate one head in the weights, measure, and revert bit for bit. A set saved
// with Save is what `mechlens ... --edits FILE` applies.
func ExampleSet() {
	m, err := toy.Organism()
	if err != nil {
		log.Fatal(err)
	}
	ids := append([]int{m.Tokenizer.EOT()}, m.Tokenizer.Encode("The capital of Fizeia is")...)
	deras, _ := m.Tokenizer.TokenID(" Deras")
	logit := func() float32 {
		res, err := m.Run([][]int{ids}, gpt2.RunOptions{Logits: gpt2.LogitsLast})
		if err != nil {
			log.Fatal(err)
		}
		defer res.Release()
		return res.Logits[0][deras]
	}
	before := logit()

	set := edit.NewSet(m, "mechlens-organism")
	if err := set.Append(m, edit.ScaleHead(2, 0, 0)); err != nil { // W_O rows of L2H0 × 0
		log.Fatal(err)
	}
	applied, err := set.Apply(m)
	if err != nil {
		log.Fatal(err)
	}
	edited := logit()
	if err := applied.Revert(); err != nil {
		log.Fatal(err)
	}
	fmt.Println(set.Edits[0])
	fmt.Printf("logit of \" Deras\": %.1f, %.1f edited\n", before, edited)
	fmt.Println("reverted bit for bit:", logit() == before)
	// Output:
	// scale_head L2H0 ×0
	// logit of " Deras": 12.9, 12.6 edited
	// reverted bit for bit: true
}
