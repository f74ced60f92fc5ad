// Package view turns the results of lens analyses into tables: a header, formatted cells
// and a heat value per cell (NaN for none). The command line prints them (aligned, CSV, or
// shaded with --color) and the terminal browser (package tui) draws the same tables as panes,
// so each view is computed once and shown two ways.
//
// It owns the formatting of tokens, residual-stream points and numbers in tables. It must
// not compute (lens does), print or draw (internal/cli and tui do), nor load models.
package view
