package audit_test

import (
	"context"
	"fmt"
	"log"

	"github.com/mechlens/mechlens/audit"
	"github.com/mechlens/mechlens/toy"
)

// An anchored-bias audit from Go (`mechlens audit` on the embedded model): the organism's
// own questions, each shown in its cyclic orders, scored in memory (Out empty: no files).
func ExampleRun() {
	m, err := toy.Organism()
	if err != nil {
		log.Fatal(err)
	}
	gen, err := audit.LookupGenerator(toy.AuditTask) // registered by package toy
	if err != nil {
		log.Fatal(err)
	}
	items, err := gen.Generate(60, 1)
	if err != nil {
		log.Fatal(err)
	}
	s, err := audit.Run(context.Background(), m, items, audit.RunOptions{Config: audit.Config{
		Model:     "mechlens-organism",
		Data:      "generate:organism n=60 seed=1",
		Format:    audit.Format{BOS: true}, // the organism was trained with <|endoftext|> first
		Permute:   audit.PermuteCyclic,
		Bootstrap: 200,
		Seed:      1,
	}})
	if err != nil {
		log.Fatal(err)
	}
	v := s.Vocab // the paper's rule: the argmax over the whole vocabulary
	fmt.Printf("%d items, %d trials\n", s.Items, s.Trials)
	fmt.Printf("accuracy %.2f [%.2f, %.2f]\n", v.Accuracy.Value, v.Accuracy.Lo, v.Accuracy.Hi)
	fmt.Printf("answered A when the answer is not A %.2f [%.2f, %.2f]\n", v.Anchored.Value, v.Anchored.Lo, v.Anchored.Hi)
	// Output:
	// 60 items, 150 trials
	// accuracy 0.78 [0.69, 0.86]
	// answered A when the answer is not A 0.33 [0.22, 0.48]
}
