package main

import (
	"strconv"
)

// quote shows a token so that its spaces and newlines are visible in a table.
func quote(s string) string { return strconv.Quote(s) }

func itoa(i int) string { return strconv.Itoa(i) }
