package runlog

import (
	"fmt"
	"strings"
)

// ParamCount is the parameter count of one module (or one group of tensors)
// of a model, as listed by [FormatModuleReport].
type ParamCount struct {
	// Name is the module's name, e.g. "bert.encoder.layer.0.attention".
	Name string
	// Total is the number of scalar parameters in the module.
	Total int64
	// Trainable is how many of those the optimizer updates.
	Trainable int64
}

// FormatParamReport returns the one-line summary that Hugging Face PEFT's
// print_trainable_parameters prints, byte for byte:
//
//	trainable params: 294,912 || all params: 110,076,674 || trainable%: 0.2679
//
// A total of 0 reports a trainable share of 0.0000 rather than dividing by
// zero.
func FormatParamReport(total, trainable int64) string {
	pct := 0.0
	if total != 0 {
		pct = 100 * float64(trainable) / float64(total)
	}
	return fmt.Sprintf("trainable params: %s || all params: %s || trainable%%: %.4f",
		formatThousands(trainable), formatThousands(total), pct)
}

// FormatModuleReport returns rows as a table with a header line, module
// names left-aligned and the trainable and total counts right-aligned with
// thousands separators, one row per line, each line ending in "\n":
//
//	module                 trainable        total
//	encoder.layer.0.query     12,288      602,112
//
// Rows are printed in the order given. An empty slice yields just the header.
func FormatModuleReport(rows []ParamCount) string {
	const (
		hName  = "module"
		hTrain = "trainable"
		hTotal = "total"
	)
	nameW, trainW, totalW := len(hName), len(hTrain), len(hTotal)
	cells := make([][2]string, len(rows))
	for i, r := range rows {
		cells[i] = [2]string{formatThousands(r.Trainable), formatThousands(r.Total)}
		nameW = max(nameW, len(r.Name))
		trainW = max(trainW, len(cells[i][0]))
		totalW = max(totalW, len(cells[i][1]))
	}
	var b strings.Builder
	line := func(name, train, total string) {
		fmt.Fprintf(&b, "%-*s  %*s  %*s\n", nameW, name, trainW, train, totalW, total)
	}
	line(hName, hTrain, hTotal)
	for i, r := range rows {
		line(r.Name, cells[i][0], cells[i][1])
	}
	return b.String()
}
