package rollup

// Disclosure control: cell keys and the perturbation table.
//
// k-suppression hides one small cell, but two shown cells can be
// subtracted down to it (a range and its sub-range, a filter and the
// total). So in the protective mode (site.DisclosureCellKey) no number is
// published as counted: every stored cell is published as its count plus
// a small noise, and every answer is a sum of published cells. The noise
// of a cell is fixed by who is in it, not drawn per query, so asking again,
// or asking for overlapping ranges, filters and breakdowns, returns the
// same noisy cells and cannot average or subtract the noise away.
//
// How the noise is fixed. While a salt day's events exist, each visitor
// gets a record key: a hash of the salted visitor hash, uniform in
// [0, 2^32). A cell's key (column ckey) is the sum of the record keys of
// the distinct visitors it counts; it adds up exactly like the visitor
// count, so the incremental rollup writes it by the same stored + after −
// before rule, and a cell with the same contributors always has the same
// key. The key is stored unreduced (a sum of numbers below 2^32, far from
// overflowing Int64) and read modulo 2^32: a sum of independent uniform
// keys modulo 2^32 is uniform, so the key of a cell is a uniform random
// number that nobody can predict once the day's salt is destroyed (the
// visitor hashes it came from are gone with the raw events). The published
// value is then a lookup in Perturbation, a table of noise distributions
// by count, at that uniform number.
//
// The same key serves every number of a cell (visitors, visits,
// pageviews, bounces, events, and duration in steps of DurationStep): a
// cell whose numbers are equal is published with equal numbers, so the
// metrics of one cell are not independent noisy copies that could be
// averaged. Each number is looked up by its own count, and none is zeroed
// when another is published as 0: every sum stays unbiased.

import (
	"fmt"
	"math"
	"strings"
)

// recordKeyTag separates the record key's hash from every other hash of a
// visitor hash.
const recordKeyTag = "sezim-record-key"

// RecordKeySQL is the record key of the visitor hash expression v, a
// number in [0, 2^32): a hash of the salted visitor hash, so it is as
// unguessable as the day's salt and gone with it.
func RecordKeySQL(v string) string {
	return fmt.Sprintf("(cityHash64(%s, '%s') %% 4294967296)", v, recordKeyTag)
}

// ckeySQL sums the record keys of the distinct visitors of a group of R
// rows (see visitKeysSQL), as visitorsSQL counts them: a visitor with one
// visit has one row per key, the others are made distinct.
var ckeySQL = fmt.Sprintf("sumIf(%s, nv = 1) + arraySum(arrayMap(x -> %s, groupUniqArrayIf(visitor, nv > 1)))",
	RecordKeySQL("visitor"), RecordKeySQL("x"))

// NoiseRow is one row of a perturbation table: the noise values and their
// probabilities, which add up to 1.
type NoiseRow struct {
	Noise []int64
	Prob  []float64
}

// PerturbationTable says how a cell of each count is published: Rows[c-1]
// for a count c up to len(Rows), the last row for every larger count. A
// count of 0 is not a cell and is never published as anything but 0.
type PerturbationTable struct {
	Rows []NoiseRow
	// DurationStep scales the noise of a duration (a sum of seconds).
	DurationStep int64
}

// Perturbation is the published perturbation table of the protective mode.
// Its parameters and what they guarantee are in the README ("Disclosure
// control"); the numbers are stored nowhere, so a change applies to every
// cell at its next read, and a change of them is a change of the published
// guarantee.
//
//   - Every noise is within ±2 (D = 2): a published cell is within 2 of its
//     count, and a sum of n cells within 2n of its count.
//   - Zero mean for every count: sums of many cells are unbiased.
//   - Variance 1.2 for counts of 2 or more, 1.1 for a count of 1.
//   - A count is published as itself with probability 0.4 (0.35 for a count
//     of 1): never with certainty, so no published number, and no difference
//     of published numbers, tells a small count exactly.
//   - Never negative: a count of 1 goes down by at most 1, and is then
//     published as 0 (absent) with probability 0.4.
var Perturbation = PerturbationTable{
	Rows: []NoiseRow{
		{Noise: []int64{-1, 0, 1, 2}, Prob: []float64{0.40, 0.35, 0.10, 0.15}},
		{Noise: []int64{-2, -1, 0, 1, 2}, Prob: []float64{0.10, 0.20, 0.40, 0.20, 0.10}},
	},
	DurationStep: 30,
}

// keySpace is the range of a reduced cell key.
const keySpace = 1 << 32

// thresholds are a row's cumulative probabilities in units of 2^-32: the
// noise is Noise[i] for the first i with u < thresholds[i]. The last is
// 2^32, so every key finds one.
func (r NoiseRow) thresholds() []uint64 {
	out := make([]uint64, len(r.Prob))
	cum := 0.0
	for i, p := range r.Prob {
		cum += p
		out[i] = uint64(math.Round(cum * keySpace))
	}
	out[len(out)-1] = keySpace
	return out
}

// row is the row of count c ≥ 1.
func (t PerturbationTable) row(c uint64) NoiseRow {
	if c > uint64(len(t.Rows)) {
		return t.Rows[len(t.Rows)-1]
	}
	return t.Rows[c-1]
}

// Noise is the noise of a count c at a reduced cell key u (ckey mod 2^32).
// It is what NoiseSQL computes in the engine.
func (t PerturbationTable) Noise(c uint64, u uint32) int64 {
	if c == 0 {
		return 0
	}
	r := t.row(c)
	for i, th := range r.thresholds() {
		if uint64(u) < th {
			return r.Noise[i]
		}
	}
	return r.Noise[len(r.Noise)-1]
}

// Publish is the published value of a count c at a reduced cell key u.
func (t PerturbationTable) Publish(c uint64, u uint32) uint64 {
	return uint64(max(int64(c)+t.Noise(c, u), 0))
}

// MaxNoise is the largest noise in the table (D).
func (t PerturbationTable) MaxNoise() int64 {
	var d int64
	for _, r := range t.Rows {
		for _, n := range r.Noise {
			d = max(d, n, -n)
		}
	}
	return d
}

// Variance is the noise variance of a count c; for the last row's counts
// it is the table's V.
func (t PerturbationTable) Variance(c uint64) float64 {
	r := t.row(max(c, 1))
	v := 0.0
	for i, n := range r.Noise {
		v += r.Prob[i] * float64(n*n)
	}
	return v
}

// SameProb is the probability that a count c is published as itself.
func (t PerturbationTable) SameProb(c uint64) float64 {
	r := t.row(max(c, 1))
	for i, n := range r.Noise {
		if n == 0 {
			return r.Prob[i]
		}
	}
	return 0
}

// noiseSQL is the noise of row r at u as a multiIf over its thresholds.
func noiseSQL(r NoiseRow, u string) string {
	th := r.thresholds()
	parts := make([]string, 0, 2*len(th))
	for i := 0; i < len(th)-1; i++ {
		parts = append(parts, fmt.Sprintf("%s < %d", u, th[i]), fmt.Sprintf("toInt64(%d)", r.Noise[i]))
	}
	parts = append(parts, fmt.Sprintf("toInt64(%d)", r.Noise[len(r.Noise)-1]))
	return "multiIf(" + strings.Join(parts, ", ") + ")"
}

// NoiseSQL is Noise in the engine: the noise of the count expression c
// (UInt64) at the reduced key expression u (UInt64 below 2^32).
func (t PerturbationTable) NoiseSQL(c, u string) string {
	parts := make([]string, 0, 2*len(t.Rows)+1)
	parts = append(parts, c+" = 0", "toInt64(0)")
	for i, r := range t.Rows[:len(t.Rows)-1] {
		parts = append(parts, fmt.Sprintf("%s = %d", c, i+1), noiseSQL(r, u))
	}
	parts = append(parts, noiseSQL(t.Rows[len(t.Rows)-1], u))
	return "multiIf(" + strings.Join(parts, ", ") + ")"
}

// PublishSQL is Publish in the engine: the published value (UInt64) of
// the count expression c at the reduced key u.
func (t PerturbationTable) PublishSQL(c, u string) string {
	return fmt.Sprintf("toUInt64(greatest(toInt64(%s) + %s, 0))", c, t.NoiseSQL(c, u))
}

// PublishDurationSQL is the published duration d (seconds, UInt64) of a
// cell whose visits are the count expression visits: the visits' noise at
// u in steps of DurationStep, so that a cell's mean visit duration is not
// exact either.
func (t PerturbationTable) PublishDurationSQL(d, visits, u string) string {
	return fmt.Sprintf("toUInt64(greatest(toInt64(%s) + %d * %s, 0))", d, t.DurationStep, t.NoiseSQL(visits, u))
}

// ReduceKeySQL is the reduced cell key (ckey mod 2^32) of a stored key
// expression (a sum of record keys, UInt64 or Int64).
func ReduceKeySQL(ckey string) string {
	return fmt.Sprintf("(toUInt64(%s) %% 4294967296)", ckey)
}
