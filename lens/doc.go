// Package lens owns the analyses that read a model's activations and weights: the logit
// lens over the residual stream, direct logit attribution to embeddings, heads, MLPs and
// single neurons, the vocabulary projection of MLP value vectors and the reverse search over
// them, attention patterns and attention to answer options, activation patching between a
// clean and a corrupted prompt, and the anchored-bias paper's scan (Li and Gao 2024: MLP
// lens, neuron contribution scores, flagged value vectors, head lens).
//
// Every analysis works on the weights it is given, processed or raw, and says which formula
// it applies in both cases (ln_final with its own weight and bias on raw weights; identity
// and b_U after fold_ln). It must not change weights (edit does) nor run audits over
// datasets (audit does); it runs the forward pass only through gpt2.Model.Run and multiplies
// matrices only through internal/tensor.
//
// Shapes in comments use gpt2's letters: T positions, L layers, D d_model, H heads, M d_mlp,
// V vocabulary, R rows of a batched projection.
//
// Examples (example_test.go): ExampleAnalyzer_LogitLens, ExampleAnalyzer_Attribute.
package lens
