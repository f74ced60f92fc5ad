// Package edit changes a model and undoes the change exactly: named, ordered, saveable edit
// sets applied to a gpt2.Model in place.
//
// Two kinds of edit share one JSON form (Edit, kind-tagged):
//
//   - weight edits (value_vector, scale_neuron, scale_head, project_out, rank_one) write
//     into the packed matrices through gpt2.Model.WritableMatrix, keeping every value they
//     overwrite, so Applied.Revert restores the weights bit for bit (nothing is subtracted
//     back). They persist in a checkpoint written by gpt2.SaveDir.
//   - run-time interventions (steer, ablate, attention, clamp) are hooks appended to the
//     model's Interventions, run before a run's own hooks at every run; they cannot be
//     exported. A steer may carry a Gate, which scales it by an earlier layer's attention.
//
// A Set records the model it was made on (name and gpt2.Model.Hash) and the weight
// processing it was made under. Applying it to a model with another hash is refused. An
// edit made under one processing is applied to a model under another only where that gives
// the same function (Portable): W_out and W_O rows are read only through layer norms, so an
// edit of what a component writes carries over, but an edit of W_in, of W_U, or of a head's
// output under a different fold_value_biases does not, and is refused.
//
// Edits are stored resolved: a value-vector rule given as tokens (W_out[i] − α1·W_U[:,A] +
// α2·W_U[:,B]) is saved as the vector it adds, computed on the model it was made with, with
// the rule kept as its note; so applying a set never depends on the tokenizer or on W_U.
//
// It also computes fact edits (rome.go, memit.go: ROME and MEMIT, with the keys'
// covariance of stats.go) and scores them on CounterFact-style requests (request.go,
// eval.go); those read the model only through gpt2's forward pass and ModelGrad.
//
// This package must not evaluate edits otherwise (audit and debias do) and must not import
// audit.
//
// ExampleSet (example_test.go) makes a set, applies it and reverts it.
package edit
