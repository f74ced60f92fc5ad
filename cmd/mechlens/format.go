package main

import (
	"strconv"

	"github.com/mechlens/mechlens/view"
)

// quote shows a token so that its spaces and newlines are visible in a table.
var quote = view.Quote

func itoa(i int) string { return strconv.Itoa(i) }
