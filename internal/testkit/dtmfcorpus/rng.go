package dtmfcorpus

import (
	"math"
	"math/rand/v2"
)

// rng is a seeded generator whose output is fixed forever: PCG's sequence
// is specified, and the float and Gaussian conversions are done here rather
// than by math/rand/v2, whose derived methods may change between releases.
type rng struct {
	src   *rand.PCG
	spare float64
	has   bool
}

func newRNG(seed uint64) *rng {
	return &rng{src: rand.NewPCG(seed, 0x9e3779b97f4a7c15)}
}

// float returns a uniform value in [0, 1) from the top 53 bits.
func (r *rng) float() float64 { return float64(r.src.Uint64()>>11) / (1 << 53) }

// between returns a uniform value in [lo, hi).
func (r *rng) between(lo, hi float64) float64 { return lo + (hi-lo)*r.float() }

// intn returns a uniform integer in [0, n); n must be positive.
func (r *rng) intn(n int) int { return int(r.src.Uint64() % uint64(n)) }

// gauss returns a standard normal value (Box–Muller, both outputs used).
func (r *rng) gauss() float64 {
	if r.has {
		r.has = false
		return r.spare
	}
	u := 1 - r.float() // (0, 1]: log is finite
	v := r.float()
	m := math.Sqrt(-2 * math.Log(u))
	r.spare, r.has = m*math.Sin(2*math.Pi*v), true
	return m * math.Cos(2*math.Pi*v)
}
