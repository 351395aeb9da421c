package dtmf

// The in-band DTMF Detector (ITU-T Q.23 signals, Q.24 receiver limits).
//
// Design, and the ITU-T Q.24 receiver requirement (docs/reports/dtmf-detector.md)
// each part answers:
//
//  1. Goertzel bank (goertzel.go). Every 32-sample block (4 ms) yields the
//     complex DFT of the eight DTMF frequencies, phase-referred to the
//     stream's first sample, and the block energy. Four blocks make a 16 ms
//     rectangular window; one block is the hop. This costs eight recurrence
//     steps per sample whatever happens, and is the only per-sample work.
//
//  2. Candidate (every hop, while no tone is held). The strongest bin of
//     each group must dominate its group, the pair must hold a fair share of
//     the window's energy and be loud enough with a plausible twist. This is
//     cheap and deliberately loose: it only says "a pair may be starting",
//     which raises Suspected (so the masking stage can hold audio from the
//     first block with a plausible pair) and runs step 3.
//
//  3. Measurement at the tone's own frequency. The coarse frequency of each
//     tone comes from how far its bin's phase turned between the window and
//     the window one hop earlier (unambiguous to ±125 Hz). It is refined with
//     two Hann-weighted DFTs at that frequency, 64 samples apart (the Hann
//     sidelobes keep the other tone of the pair out of the phase), which
//     reads the frequency to about a hertz even at 15 dB SNR. Q.24 wants
//     ±1.5% accepted and ±3.5% rejected; a bin 62.5 Hz wide cannot tell
//     those apart, a phase measurement can, so the limit is set half-way,
//     2.5%. A last Hann DFT at the measured frequency gives each tone's
//     amplitude and phase: the level limit (accept 0 to −25 dBm0, reject
//     −55 dBm0 and below: the floor is −40 dBm0 per tone, so that −25 dBm0
//     with 8 dB of reverse twist still passes) and the twist limit (accept
//     −8..+4 dB, reject ≤−12 and ≥+12: limits −10 and +8 dB) are checked
//     on these exact amplitudes.
//
//  4. Purity and no third tone (talk-off). The two measured sinusoids form
//     a model of the last 28 ms of signal; the model must explain at least
//     90% of the energy there, and what it leaves must hold no sinusoid
//     stronger than −20 dB of the signal. Two fixed sinusoids at DTMF
//     frequencies (within 2.5%) carrying 90% of the energy for 28 ms, and
//     nothing else tonal, is what DTMF is and what speech and music almost
//     never are: voiced speech spreads its energy over many harmonics and
//     moves its pitch, so even when two harmonics dominate (synthetic
//     voices reach 0.87) a third stays near −12 dB; chords bring harmonics.
//     White noise at 15 dB SNR explains 96% and peaks near −28 dB. A pair
//     whose frequencies stand in the ratio of two neighbouring harmonics
//     (2:1, 3:2, 4:3, 5:3) is refused outright: no Q.24 must-detect pair
//     comes within 0.7% of those ratios, but a harmonic voice or instrument
//     can put its first two harmonics within 2.5% of a DTMF pair.
//
//  5. Duration and onset (duration row: accept ≥ 40 ms, reject ≤ 23 ms).
//     With the model, each held sample n scores g[n] = x²−(x−m)² = 2xm−m²,
//     the energy the model removes: positive inside the tone, about −m²
//     outside it. The run of samples with the largest total score (a
//     maximum-subarray search over the last 64 ms) is the tone, to within a
//     few samples even in noise. A Begin is decided as soon as that run
//     reaches 28 ms and is still going: 5 ms of margin over 23 ms, and the
//     decision comes 28–32 ms after the onset, inside the 40 ms look-ahead
//     the masking stage holds. Onset is the start of the run, moved back
//     over an interruption of up to 12 ms to an earlier part of the same
//     pair (a press whose tone broke early and came back in another phase).
//
//  6. Holding and ending (pause row: 40 ms gap → two digits; interruption
//     row: ≤ 10 ms gap → one digit). While a digit is held, each block is
//     checked for each of its tones at its bin (level against the confirmed
//     level, share of block energy) and each must still lead its group over
//     the window, so another key that shares a row or column ends the digit.
//     A 10 ms gap can spoil at most three blocks, and one lost 20 ms packet
//     played as silence (no concealment) at most six; the digit ends after
//     seven absent blocks (28 ms), still short of a 40 ms pause. The end
//     sample is the change point of the last model fitted while the digit
//     was held (largest prefix score). The next digit may not start before
//     it.
//
// Everything is in fixed-size arrays inside the Detector: Process allocates
// nothing. The per-sample work is the Goertzel step and the copy into the
// sample history; steps 3–5 run once per 4 ms hop only while a candidate
// pair is present, and the third-tone scan only when everything else has
// passed.

import (
	"math"
	"unsafe"
)

const (
	// histLen is the sample history: enough for the 64 ms onset search plus
	// the End change-point search behind it. A power of two, so an index is
	// a mask.
	histLen  = 1024
	histMask = histLen - 1

	// blockRing holds the spectra of the last blocks: a window and the
	// window one hop before it need five.
	blockRing = 8
	blockMask = blockRing - 1

	// fineLag is the spacing of the two Hann windows the frequency is
	// refined from: unambiguous to ±62.5 Hz around the coarse estimate.
	fineLag = 64

	// onsetLookback is how far back the onset search goes (64 ms).
	onsetLookback = 512

	// endAbsentBlocks is how many consecutive blocks without the pair end a
	// held digit: 28 ms, between the 10 ms bridge and the 40 ms pause of
	// Q.24, and longer than the six blocks one lost 20 ms packet can spoil
	// (with six, a tone split by one lost packet was sometimes two digits).
	endAbsentBlocks = 7

	// Candidate (step 2) limits: loose on purpose. A window half covered by
	// a clean pair gives a share near 0.5, a full one with both tones 1.5%
	// off and 15 dB of noise about 0.65; synthetic speech in the corpus
	// raises Suspected 6 times a minute at 0.5, 34 at 0.3.
	candidateShare     = 0.5 // of window energy in the two strongest bins
	candidateDominance = 2.0 // strongest bin over the next in its group (power)
	candidateSlackDB   = 12  // allowance on level and twist before measurement

	// Holding (step 6) limits, per block.
	holdShare   = 0.5 // of block energy in the digit's two bins
	holdLevel   = 0.1 // of each tone's confirmed power (−10 dB)
	refitPurity = 0.6 // for a held digit's model to be refreshed

	// The third-tone check (step 4) scans 200–3600 Hz in FFT bins of
	// 15.6 Hz, under half the 36 Hz bin of the 224-sample purity stretch,
	// so a sinusoid between bins loses at most 0.3 dB.
	thirdToneFirstBin = 200 * spectrumLen / SampleRate
	thirdToneLastBin  = 3600 * spectrumLen / SampleRate
	thirdToneGuard    = 45.0 // Hz either side of each tone of the pair

	// Onset extension across an interruption: at most bridgeGap samples of
	// absence, then blocks holding the pair at no less than partLevel of
	// its amplitude and partShare of the block energy.
	bridgeGap = 3 * blockLen
	partLevel = 0.5
	partShare = 0.6
)

// DetectorConfig tunes the Detector. The zero value is the configuration
// that meets ITU-T Q.24 as the package documents it; each zero field means
// its default.
type DetectorConfig struct {
	// MinLevelDBm0 is the lowest accepted level of each tone. Default −40
	// dBm0 (Q.24: detect down to −25 dBm0, reject −55 dBm0 and below).
	MinLevelDBm0 float64
	// MaxDeviation is the largest accepted relative frequency deviation of
	// each tone. Default 0.025 (Q.24: detect ±1.5%, reject beyond ±3.5%).
	MaxDeviation float64
	// MaxHighOverLowDB is how much louder than the low-group tone the
	// high-group tone may be. Default 8 dB (Q.24: detect +4, reject +12).
	MaxHighOverLowDB float64
	// MaxLowOverHighDB is how much louder than the high-group tone the
	// low-group tone may be. Default 10 dB (Q.24: detect 8, reject 12).
	MaxLowOverHighDB float64
	// MinDuration is the shortest accepted tone, in samples. Default 224
	// (28 ms; Q.24: detect ≥ 40 ms, reject ≤ 23 ms). It is also the
	// shortest possible decision latency.
	MinDuration int
	// MinPurity is the share of the signal energy over the last MinDuration
	// samples that the two measured tones must explain. Default 0.9 (white
	// noise at 15 dB SNR leaves about 0.96).
	MinPurity float64
	// MaxThirdToneDB is how strong, relative to the signal, the strongest
	// sinusoid other than the pair may be over that stretch. Default −20 dB
	// (white noise at 15 dB SNR peaks near −28 dB; a voiced sound whose two
	// strongest harmonics pass for a pair keeps others near −12 dB).
	MaxThirdToneDB float64
}

// detectorSettings is a DetectorConfig with the defaults filled in.
type detectorSettings struct {
	minAmp       float64 // linear peak amplitude of MinLevelDBm0
	minLevelDBm0 float64
	maxDev       float64
	maxHighOver  float64
	maxLowOver   float64
	minDur       int64
	minPurity    float64
	maxThirdDB   float64
}

func (c DetectorConfig) resolve() detectorSettings {
	s := detectorSettings{
		minLevelDBm0: orDefault(c.MinLevelDBm0, -40),
		maxDev:       orDefault(c.MaxDeviation, 0.025),
		maxHighOver:  orDefault(c.MaxHighOverLowDB, 8),
		maxLowOver:   orDefault(c.MaxLowOverHighDB, 10),
		minPurity:    orDefault(c.MinPurity, 0.9),
		maxThirdDB:   orDefault(c.MaxThirdToneDB, -20),
		minDur:       224,
	}
	if c.MinDuration > 0 {
		// The onset search cannot see further back than onsetLookback.
		s.minDur = int64(min(c.MinDuration, onsetLookback-2*blockLen))
	}
	s.minAmp = Amplitude(s.minLevelDBm0)
	return s
}

func orDefault(v, def float64) float64 {
	if v == 0 || math.IsNaN(v) {
		return def
	}
	return v
}

// toneModel is the measured pair: x[n] ≈ Σ Re(amp·exp(iω(n−ref))).
type toneModel struct {
	omega [2]float64    // radians per sample, low then high tone
	amp   [2]complex128 // peak amplitude and phase at sample ref
	ref   int64
}

// Detector finds DTMF key presses in 8 kHz linear PCM (ITU-T Q.24 limits).
// It is not safe for concurrent use; one Detector serves one audio stream.
type Detector struct {
	// What every block reads comes first, packed together, and the large
	// arrays last: a process that runs a thousand detectors, each fed
	// every 20 ms, finds each one out of the cache, and every cache line
	// a frame touches costs a memory fetch.
	pos     int64 // samples consumed
	nblocks int64 // completed blocks

	// Candidate state (no digit held).
	suspected    bool
	suspectOnset int64

	// Held digit.
	active bool
	key    Key
	absent int // consecutive blocks without the pair

	// floor is the earliest sample a new digit may start at: the end of
	// the previous one.
	floor int64

	bank   goertzelBank
	cfg    detectorSettings
	blocks [blockRing]blockSpectrum

	row, col    int
	onset       int64
	model       toneModel
	lastFit     int64      // end of the last window the model was fitted on
	lastPresent int64      // end of the last block that held the pair
	blockPower  [2]float64 // expected |bin|² of each tone in one block

	hist [histLen]int16          // the last histLen samples, indexed by sample number
	spec [spectrumLen]complex128 // scratch for thirdTone
}

// NewDetector returns a Detector at the start of a stream.
func NewDetector(cfg DetectorConfig) *Detector {
	return &Detector{cfg: cfg.resolve()}
}

// Reset returns the Detector to the start of a stream, keeping its
// configuration. Position starts again at zero.
func (d *Detector) Reset() {
	*d = Detector{cfg: d.cfg}
}

// Position returns how many samples the Detector has consumed.
func (d *Detector) Position() int64 { return d.pos }

// Suspected reports whether a plausible DTMF pair is present that has not
// (yet) been decided to be a digit, and roughly where it started. It rises
// on the first hop whose window holds a plausible pair, typically 6–12 ms
// after the onset, and falls when the pair is decided to be a digit (a
// Begin is emitted) or goes away. The masking stage uses it to hold or
// replace audio before the decision.
func (d *Detector) Suspected() (onset int64, ok bool) {
	if !d.suspected || d.active {
		return 0, false
	}
	return d.suspectOnset, true
}

// Process consumes 8 kHz 16-bit linear PCM, in chunks of any size, and
// appends the KeyEvents it decides to out. Events depend only on the
// samples, not on how they were chunked. It allocates nothing unless out
// must grow.
func (d *Detector) Process(pcm []int16, out []KeyEvent) []KeyEvent {
	for len(pcm) > 0 {
		// Up to the end of the current block, so that hop runs after
		// each block's last sample, exactly as if samples came one by one.
		xs := pcm[:min(len(pcm), blockLen-d.bank.n)]
		pcm = pcm[len(xs):]
		// A block never wraps the history (histLen is a multiple of
		// blockLen), and xs ends at the block's end at the latest.
		copy(d.hist[d.pos&histMask:], xs)
		d.pos += int64(len(xs))
		if d.bank.feed(xs) {
			d.bank.finish(&d.blocks[d.nblocks&blockMask])
			d.nblocks++
			out = d.hop(out)
		}
	}
	return out
}

// Flush ends the stream: a held digit is ended at its last sample, and a
// suspected pair is dropped. The Detector can go on with more samples
// afterwards as if a new stream began at Position.
func (d *Detector) Flush(out []KeyEvent) []KeyEvent {
	if d.active {
		out = d.end(out, d.pos)
	}
	d.suspected = false
	d.floor = d.pos
	return out
}

// hop runs once per completed block; t is the sample after the block.
func (d *Detector) hop(out []KeyEvent) []KeyEvent {
	t := d.pos
	if d.active {
		return d.hold(out, t)
	}
	if d.nblocks < 4 {
		return out
	}
	// Step 2: candidate from the window of the last four blocks.
	var w [8]complex128
	var energy float64
	for i := range int64(4) {
		b := &d.blocks[(d.nblocks-1-i)&blockMask]
		for k := range w {
			w[k] += complex128(b.bin[k])
		}
		energy += b.energy
	}
	row, col, share, ok := d.candidate(&w, energy)
	if !ok {
		d.suspected = false
		return out
	}
	if !d.suspected {
		d.suspected = true
		// The pair's share of the window grows with how much of it the tone
		// covers: a first, rough onset.
		cover := min(share/0.9, 1)
		d.suspectOnset = max(t-int64(cover*winLen), d.floor)
	}
	// Steps 3–5 need the two Hann windows and the window one hop earlier.
	if d.nblocks < (winLen+fineLag)/blockLen || t-d.cfg.minDur < d.floor {
		return out
	}
	var prev [2]complex128
	b := &d.blocks[(d.nblocks-5)&blockMask]
	prev[0] = w[row] - complex128(d.blocks[(d.nblocks-1)&blockMask].bin[row]) + complex128(b.bin[row])
	prev[1] = w[4+col] - complex128(d.blocks[(d.nblocks-1)&blockMask].bin[4+col]) + complex128(b.bin[4+col])
	m, ok := d.measure(t, row, col, [2]complex128{w[row], w[4+col]}, prev)
	if !ok {
		return out
	}
	// Step 4: purity over the last MinDuration samples.
	if d.purity(&m, t-d.cfg.minDur, t) < d.cfg.minPurity {
		return out
	}
	// Step 5: the tone's extent.
	lo := max(d.floor, t-onsetLookback)
	a, e := d.bestRun(&m, lo, t)
	if e < t-blockLen || e-a < d.cfg.minDur {
		return out
	}
	// Last, being the costliest: no third tone in the purity stretch.
	if d.thirdTone(&m, t-d.cfg.minDur, t) > d.cfg.maxThirdDB {
		return out
	}
	a = d.earlierPart(&m, a, lo)
	d.active = true
	d.suspected = false
	d.key = keyAt(row, col)
	d.row, d.col = row, col
	d.onset = a
	d.absent = 0
	d.model = m
	d.lastFit = t
	d.lastPresent = t
	// A tone of peak a puts a·blockLen/2 into its bin over one block.
	d.blockPower = [2]float64{blockLen * blockLen / 4 * absSq(m.amp[0]), blockLen * blockLen / 4 * absSq(m.amp[1])}
	return append(out, KeyEvent{
		Kind:            Begin,
		Key:             d.key,
		Source:          SourceInband,
		Duration:        uint32(t - a),
		Onset:           a,
		DecisionLatency: int(t - a),
	})
}

// candidate is step 2 on one window's bins and energy.
func (d *Detector) candidate(w *[8]complex128, energy float64) (row, col int, share float64, ok bool) {
	if energy <= 0 {
		return 0, 0, 0, false
	}
	row, pl, nl := strongest(w[0:4])
	col, ph, nh := strongest(w[4:8])
	share = 2 * (pl + ph) / (winLen * energy)
	if share < candidateShare || pl < candidateDominance*nl || ph < candidateDominance*nh {
		return 0, 0, 0, false
	}
	// A full window of a tone of peak a gives |bin| = a·winLen/2.
	slack := math.Pow(10, -candidateSlackDB/20.0)
	minBin := d.cfg.minAmp * slack * winLen / 2
	if pl < minBin*minBin || ph < minBin*minBin {
		return 0, 0, 0, false
	}
	twist := 10 * math.Log10(ph/pl)
	if twist > d.cfg.maxHighOver+candidateSlackDB || -twist > d.cfg.maxLowOver+candidateSlackDB {
		return 0, 0, 0, false
	}
	return row, col, share, true
}

// strongest returns the index and power of the strongest of four bins and
// the power of the next strongest.
func strongest(bins []complex128) (idx int, best, next float64) {
	for i, b := range bins {
		p := absSq(b)
		switch {
		case p > best:
			idx, best, next = i, p, best
		case p > next:
			next = p
		}
	}
	return idx, best, next
}

func absSq(c complex128) float64 { return real(c)*real(c) + imag(c)*imag(c) }

// hold is step 6, once per block while a digit is held. Each tone must be
// there on its own, each must lead its group over the window (a key
// change that keeps the row or the column is another digit, even though
// in a 4 ms block a neighbouring frequency still leaks well into the old
// bin), and the pair must hold its share of the block.
func (d *Detector) hold(out []KeyEvent, t int64) []KeyEvent {
	b := &d.blocks[(d.nblocks-1)&blockMask]
	pl, ph := absSq(complex128(b.bin[d.row])), absSq(complex128(b.bin[4+d.col]))
	// Which bin leads its group is read over the 16 ms window: a 4 ms block
	// is 250 Hz wide and cannot tell neighbouring rows apart.
	var w [8]complex128
	for i := range int64(4) {
		for k, v := range d.blocks[(d.nblocks-1-i)&blockMask].bin {
			w[k] += complex128(v)
		}
	}
	row, _, _ := strongest(w[0:4])
	col, _, _ := strongest(w[4:8])
	if row == d.row && col == d.col && pl >= holdLevel*d.blockPower[0] && ph >= holdLevel*d.blockPower[1] &&
		2*(pl+ph) >= holdShare*blockLen*b.energy {
		d.absent = 0
		d.lastPresent = t
		d.refit(t)
		return out
	}
	d.absent++
	if d.absent < endAbsentBlocks {
		return out
	}
	return d.end(out, t)
}

// refit re-measures the held pair's amplitude and phase over the window
// ending at t, keeping the measured frequencies, so that the end of the
// digit is found against a fresh model (the frequencies are known to about
// a hertz, which over a long press would turn the phase right round). The
// digit is already decided, so the fit need only be good enough to track.
func (d *Detector) refit(t int64) {
	m := toneModel{omega: d.model.omega, ref: t - winLen}
	for i := range 2 {
		m.amp[i] = toneDFT(&d.hist, t-winLen, winLen, m.omega[i], true) * complex(4.0/winLen, 0)
	}
	if d.purity(&m, t-winLen, t) >= refitPurity {
		d.model = m
		d.lastFit = t
	}
}

// end emits the held digit's End, searching for its last sample up to hi.
func (d *Detector) end(out []KeyEvent, hi int64) []KeyEvent {
	from := max(d.lastFit-winLen, d.onset, hi-histLen+1)
	// The last block that held the pair had at least half of it in tone:
	// a stale model must not put the end before that.
	e := max(d.endOf(&d.model, from, hi), d.lastPresent-blockLen/2, d.onset+1)
	out = append(out, KeyEvent{
		Kind:      End,
		Key:       d.key,
		Source:    SourceInband,
		Duration:  uint32(e - d.onset),
		Onset:     d.onset,
		EndSample: e,
	})
	d.active = false
	d.suspected = false
	d.floor = e
	return out
}

// Region is a span of memory: Len bytes from Addr.
type Region struct {
	Addr unsafe.Pointer
	Len  uintptr
}

// NextRegions names the memory the Detector's next n samples will use
// while no pair is suspected: its scalars, Goertzel state and block
// spectra (one span, at the head of the Detector), and the stretch of the
// sample history they will be written to (up to the ring's end). It reads
// only the position and changes nothing. A process that runs many
// detectors, each fed now and then, finds each one's state out of the
// cache; prefetching what several detectors will use before feeding the
// first lets the processor fetch it all at once instead of stalling on
// each in turn.
func (d *Detector) NextRegions(n int) [2]Region {
	head := unsafe.Pointer(&d.pos)
	end := uintptr(unsafe.Pointer(&d.blocks)) + unsafe.Sizeof(d.blocks)
	h := int(d.pos & histMask)
	n = min(max(n, 0), histLen-h)
	return [2]Region{
		{Addr: head, Len: end - uintptr(head)},
		{Addr: unsafe.Pointer(&d.hist[h]), Len: uintptr(n) * unsafe.Sizeof(d.hist[0])},
	}
}
