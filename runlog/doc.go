// Package runlog is what the user sees of a training run: a terminal
// progress bar ([Progress]), a crash-tolerant JSON-lines metrics log
// ([MetricsLog], [ReadMetrics]), a loss/metrics plot rendered in pure Go
// ([PlotMetrics]), PEFT-style parameter reports ([FormatParamReport],
// [FormatModuleReport]) and small human-readable formatters
// ([FormatDuration], [FormatBytes]) plus memory probes ([PeakRSS],
// [CurrentRSS]).
//
// Nothing in this package keeps global state: every Progress and MetricsLog
// owns its own writer, clock and buffers, so several runs can share a
// process.
package runlog
