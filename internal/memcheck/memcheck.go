// Package memcheck measures how much memory a call allocates, for the tests
// that bound the memory a hostile input can make a parser take.
package memcheck

import "runtime"

// Allocated runs f and returns the bytes it allocated on the heap (the
// growth of runtime.MemStats.TotalAlloc; other goroutines' allocations
// count too, so callers compare it with a generous bound).
func Allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
