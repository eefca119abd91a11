package kernels

import "fmt"

// checkSameLen panics unless every slice in rest has the length of first.
// names holds the parameter names, first one first.
func checkSameLen(op string, names []string, first []float32, rest ...[]float32) {
	for i, s := range rest {
		if len(s) != len(first) {
			panic(fmt.Sprintf("kernels: %s: len(%s)=%d != len(%s)=%d", op, names[0], len(first), names[i+1], len(s)))
		}
	}
}
