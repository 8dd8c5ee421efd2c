package runlog

import "testing"

func TestFormatParamReport(t *testing.T) {
	tests := []struct {
		total, trainable int64
		want             string
	}{
		{110076674, 294912, "trainable params: 294,912 || all params: 110,076,674 || trainable%: 0.2679"},
		{1000, 1000, "trainable params: 1,000 || all params: 1,000 || trainable%: 100.0000"},
		{124439808, 0, "trainable params: 0 || all params: 124,439,808 || trainable%: 0.0000"},
		{0, 0, "trainable params: 0 || all params: 0 || trainable%: 0.0000"},
	}
	for _, tt := range tests {
		if got := FormatParamReport(tt.total, tt.trainable); got != tt.want {
			t.Errorf("FormatParamReport(%d, %d) =\n%q, want\n%q", tt.total, tt.trainable, got, tt.want)
		}
	}
}

func TestFormatModuleReport(t *testing.T) {
	tests := []struct {
		name string
		rows []ParamCount
		want string
	}{
		{
			name: "empty",
			want: "module  trainable  total\n",
		},
		{
			name: "rows",
			rows: []ParamCount{
				{Name: "bert.embeddings", Total: 23837184, Trainable: 0},
				{Name: "classifier", Total: 1538, Trainable: 1538},
			},
			want: "" +
				"module           trainable       total\n" +
				"bert.embeddings          0  23,837,184\n" +
				"classifier           1,538       1,538\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FormatModuleReport(tt.rows); got != tt.want {
				t.Errorf("FormatModuleReport =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}
