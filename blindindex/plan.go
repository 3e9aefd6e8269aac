package blindindex

import (
	"fmt"
	"math"
	"strings"
)

// PlanInput describes a table and the index to plan for it.
type PlanInput struct {
	// Rows is the number of rows expected in the table (N), at least 1.
	Rows uint64
	// Distinct is the number of distinct normalised values expected (D),
	// 1 to Rows; 0 means as many as rows.
	Distinct uint64
	// Bits is a term size to evaluate; 0 asks for a recommendation.
	Bits int
	// Others are the other blind indexes on the same table: an attacker
	// who holds the table sees all of them together, so their bits add up.
	Others []OtherIndex
	// Slow says whether the index is slow (Argon2id); it changes only
	// what the plan says about guessing.
	Slow bool
}

// OtherIndex is another blind index on the same table.
type OtherIndex struct {
	Bits     int    // its term size, 1 to 256 (it may be another library's)
	Distinct uint64 // distinct values it indexes (0: as many as rows)
}

// Plan is the planner's answer: CipherSweet's rule applied to one index,
// with its expected false positives and what the table leaks. Render it
// with String (plain text) or Markdown.
//
// The rule (CipherSweet, "Blind Index Planning",
// https://ciphersweet.paragonie.com/php/blind-index-planning, and its
// FieldIndexPlanner): with N rows and indexes of L_i bits over inputs of
// K_i = ceil(log2 D_i) bits, the coincidence count
//
//	C = N / 2^(Σ min(L_i, K_i))
//
// is the expected number of rows that share one combination of terms. An
// index is safe when 2 ≤ C ≤ √N: every term matches at least 2 rows (so
// equal terms never single out one row) and at most √N (so lookups stay
// selective). This planner applies the rule strictly (CipherSweet's own
// upper recommendation may sit one bit above it).
type Plan struct {
	Rows, Distinct uint64
	// Bits is the size evaluated: the one asked for, or the recommendation.
	Bits int
	// Recommended says that Bits was chosen by the planner.
	Recommended bool
	// SafeMin and SafeMax bound the sizes within the rule (both 0 when
	// none is); sizes above log2(D) add nothing, so SafeMax stops there.
	SafeMin, SafeMax int
	// InputBits is K = ceil(log2 D); OtherBits is Σ min(L_i, K_i) of the
	// other indexes.
	InputBits, OtherBits int
	// Coincidences is C at Bits: rows per term (per combination of terms,
	// with Others).
	Coincidences float64
	// SqrtRows is √N, the rule's upper bound.
	SqrtRows float64
	// RowsPerValue is N/D, the true matches of an average lookup.
	RowsPerValue float64
	// FalsePositives is the expected number of rows a lookup returns that
	// do not hold the value searched for: (N − N/D) · 2^−Bits, assuming
	// evenly spread values. Each is opened and dropped by the caller.
	FalsePositives float64
	// Safe says whether Bits is within the rule.
	Safe bool
	// Slow is copied from the input.
	Slow bool
	// Notes explain an unsafe or unusual plan, in plain language.
	Notes []string
}

// Recommend applies the planner to in. With in.Bits = 0 it recommends the
// largest size within the rule (the fewest false positives), no larger
// than log2(D); if none is within the rule it says why in Notes and
// recommends the closest size. Errors wrap ErrInvalidPlan.
func Recommend(in PlanInput) (Plan, error) {
	if in.Rows < 1 {
		return Plan{}, fmt.Errorf("%w: rows must be at least 1", ErrInvalidPlan)
	}
	d := in.Distinct
	if d == 0 {
		d = in.Rows
	}
	if d > in.Rows {
		return Plan{}, fmt.Errorf("%w: distinct values (%d) cannot exceed rows (%d)", ErrInvalidPlan, d, in.Rows)
	}
	if in.Bits != 0 {
		if err := checkBits(in.Bits); err != nil {
			return Plan{}, fmt.Errorf("%w: %w", ErrInvalidPlan, err)
		}
	}
	p := Plan{Rows: in.Rows, Distinct: d, Slow: in.Slow, InputBits: log2Ceil(d)}
	for _, o := range in.Others {
		if o.Bits < 1 || o.Bits > 256 {
			return Plan{}, fmt.Errorf("%w: another index's bits must be from 1 to 256", ErrInvalidPlan)
		}
		od := o.Distinct
		if od == 0 || od > in.Rows {
			od = in.Rows
		}
		p.OtherBits += min(o.Bits, log2Ceil(od))
	}
	n := float64(in.Rows)
	p.SqrtRows = math.Sqrt(n)
	p.RowsPerValue = n / float64(d)
	c := func(bits int) float64 {
		return n / math.Exp2(float64(min(bits, p.InputBits)+p.OtherBits))
	}
	within := func(bits int) bool { x := c(bits); return x >= 2 && x <= p.SqrtRows }
	for b := MinBits; b <= MaxBits; b++ {
		if within(b) {
			if p.SafeMin == 0 {
				p.SafeMin = b
			}
			p.SafeMax = b
		}
	}
	if p.SafeMax > max(p.SafeMin, p.InputBits) {
		p.SafeMax = max(p.SafeMin, p.InputBits)
	}
	p.Bits = in.Bits
	if p.Bits == 0 {
		p.Recommended = true
		switch {
		case p.SafeMax != 0:
			p.Bits = p.SafeMax
		case c(MinBits) < 2:
			p.Bits = MinBits // the fewest bits we allow: the largest classes
		default: // too few distinct values: the most selective size
			p.Bits = min(max(p.InputBits, MinBits), MaxBits)
		}
	}
	p.Coincidences = c(p.Bits)
	p.Safe = within(p.Bits)
	p.FalsePositives = (n - p.RowsPerValue) / math.Exp2(float64(p.Bits))
	switch {
	case p.Coincidences < 2 && p.OtherBits > 0 && n/math.Exp2(float64(min(MinBits, p.InputBits))) >= 2:
		p.Notes = append(p.Notes, fmt.Sprintf("Together with the other indexes, a combination of terms matches %.2g rows on average: fewer than 2, so the indexes together single out rows. Use fewer bits here or in the other indexes.", p.Coincidences))
	case p.Coincidences < 2:
		p.Notes = append(p.Notes, fmt.Sprintf("A term matches %.2g rows on average: fewer than 2, so most terms single out one row and the index shows exactly which rows hold equal values.", p.Coincidences))
		if p.SafeMax == 0 && c(MinBits) < 2 {
			p.Notes = append(p.Notes, fmt.Sprintf("No size from %d bits up satisfies the rule for %d rows; the table is too small for a blind index to hide equality (it needs at least %d rows at %d bits).", MinBits, in.Rows, 2<<MinBits, MinBits))
		}
	case p.Coincidences > p.SqrtRows:
		p.Notes = append(p.Notes, fmt.Sprintf("A lookup returns about %.0f rows, more than √N = %.0f: the index is not selective.", p.Coincidences, p.SqrtRows))
		if p.InputBits+p.OtherBits <= p.Bits || p.SafeMax == 0 {
			p.Notes = append(p.Notes, "The values have too few distinct values for any size to help; index them together with another field (a compound index) instead.")
		}
	}
	if p.Bits > p.InputBits && p.InputBits >= MinBits {
		p.Notes = append(p.Notes, fmt.Sprintf("%d bits is more than log2(D) = %d: the extra bits add nothing to the equality the index already shows.", p.Bits, p.InputBits))
	}
	return p, nil
}

// num formats a figure for people: whole numbers from 100 up, else 3
// significant digits.
func num(x float64) string {
	if x >= 100 {
		return fmt.Sprintf("%.0f", x)
	}
	return fmt.Sprintf("%.3g", x)
}

// log2Ceil returns ceil(log2 d) for d ≥ 1.
func log2Ceil(d uint64) int {
	k := 0
	for k < 64 && uint64(1)<<k < d {
		k++
	}
	return k
}

// Leaks returns, in plain language, what an attacker who holds the table
// (and not the keys) learns, and what a stolen index key adds.
func (p Plan) Leaks() []string {
	classes := math.Min(float64(p.Distinct), math.Exp2(float64(p.Bits)))
	valuesPerTerm := float64(p.Distinct) / classes
	same := "so an equal term almost always means an equal value"
	if valuesPerTerm >= 1.5 {
		same = "so an equal term does not prove an equal value"
	}
	l := []string{
		fmt.Sprintf("Equality: rows with equal values always have equal terms. The %d rows fall into about %s classes of about %s rows each; each class holds about %s distinct values, %s.", p.Rows, num(classes), num(float64(p.Rows)/classes), num(valuesPerTerm), same),
		"Frequency: the size of each class is visible. Compared with known frequencies (common surnames, large email providers, popular birth years), the largest classes can be matched to their likely values; the fewer distinct values and the more skewed they are, the better this works.",
		"Lookups: whoever sees the queries sees which class each lookup asks for and how often.",
		"Erasure: after Forget, a global index's term stays in the row (clear it, or delete the row): it still places the row in its class. An index scoped to the subject dies with the subject's key.",
	}
	if p.Slow {
		l = append(l, "With the index key stolen, every guess at a value costs one Argon2id computation per key version (slow): guessing stays possible but each guess costs real time and memory.")
	} else {
		l = append(l, "With the index key stolen, every guess at a value costs one HMAC-SHA256: a small value space (SSNs, dates of birth, phone numbers) is searched in seconds. Use slow for low-entropy values.")
	}
	return l
}

// String renders the plan as plain text for a terminal.
func (p Plan) String() string {
	var b strings.Builder
	p.render(&b, false)
	return b.String()
}

// Markdown renders the plan as a Markdown section.
func (p Plan) Markdown() string {
	var b strings.Builder
	p.render(&b, true)
	return b.String()
}

func (p Plan) render(b *strings.Builder, md bool) {
	item, heading := "  ", ""
	if md {
		item, heading = "- ", "### "
	}
	verdict := "within the rule"
	if !p.Safe {
		verdict = "OUTSIDE the rule"
	}
	what := "evaluated"
	if p.Recommended {
		what = "recommended"
	}
	fmt.Fprintf(b, "%sBlind index plan: %d rows, %d distinct values\n\n", heading, p.Rows, p.Distinct)
	fmt.Fprintf(b, "%sbits: %d (%s; %s: 2 ≤ rows per term ≤ √N = %.1f)\n", item, p.Bits, what, verdict, p.SqrtRows)
	if p.SafeMax != 0 {
		fmt.Fprintf(b, "%ssizes within the rule: %d to %d bits\n", item, p.SafeMin, p.SafeMax)
	} else {
		fmt.Fprintf(b, "%ssizes within the rule: none\n", item)
	}
	fmt.Fprintf(b, "%srows per term: %s (C = N / 2^(min(bits, log2 D = %d) + other indexes %d))\n", item, num(p.Coincidences), p.InputBits, p.OtherBits)
	fmt.Fprintf(b, "%strue matches per lookup: %s (N/D)\n", item, num(p.RowsPerValue))
	fmt.Fprintf(b, "%sfalse positives per lookup: %s expected (opened and dropped)\n", item, num(p.FalsePositives))
	if p.Slow {
		fmt.Fprintf(b, "%sslow: yes (one Argon2id per term and per key version)\n", item)
	}
	for _, n := range p.Notes {
		fmt.Fprintf(b, "\n%s\n", n)
	}
	fmt.Fprintf(b, "\n%sWhat an attacker holding the table learns\n\n", heading)
	for _, l := range p.Leaks() {
		fmt.Fprintf(b, "%s%s\n", item, l)
	}
}
