package lens_test

import (
	"fmt"
	"log"

	"github.com/mechlens/mechlens/gpt2"
	"github.com/mechlens/mechlens/lens"
	"github.com/mechlens/mechlens/toy"
)

// organism loads the embedded model with the analysis commands' default processing.
func organism() (*gpt2.Model, []int) {
	m, err := toy.Organism()
	if err != nil {
		log.Fatal(err)
	}
	if err := m.Process("fold_ln", "center_writing_weights", "center_unembed"); err != nil {
		log.Fatal(err)
	}
	ids := append([]int{m.Tokenizer.EOT()}, m.Tokenizer.Encode("The capital of Fizeia is")...)
	return m, ids
}

// The logit lens (`mechlens lens`): where in the stack the answer appears.
func ExampleAnalyzer_LogitLens() {
	m, ids := organism()
	a := lens.New(m)
	tr, err := a.Trace(ids, lens.TraceOptions{})
	if err != nil {
		log.Fatal(err)
	}
	deras, _ := m.Tokenizer.TokenID(" Deras")
	ll, err := a.LogitLens(tr, lens.LensOptions{Targets: []int{deras}, Positions: []int{-1}, TopK: 1})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range ll.Rows {
		fmt.Printf("%-26s top %-10q \" Deras\" rank %d\n", r.Point, r.Top[0].Text, r.Targets[0].Rank)
	}
	// Output:
	// blocks.0.hook_resid_pre    top " is"      " Deras" rank 1183
	// blocks.1.hook_resid_pre    top " Plimark" " Deras" rank 13
	// blocks.2.hook_resid_pre    top " Deras"   " Deras" rank 1
	// blocks.2.hook_resid_post   top " Deras"   " Deras" rank 1
}

// Direct logit attribution (`mechlens attribute`): the parts of the residual stream that
// write logit(" Deras") − logit(" Fevax"), which add up to the model's own difference.
func ExampleAnalyzer_Attribute() {
	m, ids := organism()
	a := lens.New(m)
	tr, err := a.Trace(ids, lens.TraceOptions{Heads: true})
	if err != nil {
		log.Fatal(err)
	}
	deras, _ := m.Tokenizer.TokenID(" Deras")
	fevax, _ := m.Tokenizer.TokenID(" Fevax")
	at, err := a.Attribute(tr, -1, deras, fevax)
	if err != nil {
		log.Fatal(err)
	}
	best := at.Parts[0]
	for _, p := range at.Parts {
		if p.Value > best.Value {
			best = p
		}
	}
	fmt.Printf("%d parts; the largest is %s\n", len(at.Parts), best.Name)
	fmt.Printf("sum of parts %.3f, model's logit difference %.3f\n", at.Sum, at.Logit)
	// Output:
	// 22 parts; the largest is L2.mlp
	// sum of parts 6.897, model's logit difference 6.897
}
