// Package tui is mechlens's terminal browser (`mechlens tui`): one prompt's tokens, next-token
// candidates, logit lens, direct logit attribution, attention heads, neurons and value
// vectors, and the results of an audit, in panes of one Bubble Tea program that ranks
// everything by the logit difference between a target and a distractor token.
//
// The root Model routes keys by the active pane (a flat enum); every view is a pure function
// of the model's state, drawn from package view's tables where the command line prints the
// same thing. Analyses run as tea.Cmds off the UI goroutine: each is tagged with a sequence
// number and carries a context that the next request cancels, so a stale result is dropped.
//
// Edits go through package edit, on copy-on-write clones of the model the browser was given,
// which is never run nor changed itself: it is the template of the base and edited models.
//
// It reads models through lens, audits through audit and edits through edit, and must not
// compute what those packages compute, load models by itself (the command hands it one), nor
// write files other than atomically (sessions through internal/fsutil, edit sets through
// edit.Set.Save). Nothing imports tui but cmd/mechlens.
package tui
