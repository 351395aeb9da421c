package dtmf

// feed runs the recurrences over xs, which must not run past the end of
// the current block; it reports whether the block is now complete.
//
// feedGeneric's two passes are each bound by the latency of one step
// (a multiply, then an add, on the previous step's s1), so the eight
// recurrences cost two such latencies per sample although the FPU sits
// mostly idle. SSE2 holds two frequencies per register: all eight go in
// one pass, four independent packed chains, and a sample costs one step's
// latency. SSE2 is part of the amd64 baseline (GOAMD64=v1), so there is
// no CPU check and no other path on amd64.
func (g *goertzelBank) feed(xs []int16) bool {
	goertzelFeedSSE2(g, &goertzelTab.coef, xs)
	g.n += len(xs)
	return g.n == blockLen
}

// goertzelFeedSSE2 advances bank's s1, s2, energy and sum over xs, with
// exactly feedGeneric's operations in its order, so the results are
// bit-identical: Go never fuses a multiply and an add on amd64, and
// neither does this.
//
//go:noescape
func goertzelFeedSSE2(bank *goertzelBank, coef *[8]float64, xs []int16)
