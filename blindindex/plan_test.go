package blindindex

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// TestPlanCipherSweetExample reproduces the examples of CipherSweet's
// "Blind Index Planning" page: 50,000 rows, no other index → {min 8,
// max 15}; with an existing 4-bit index over a 16-bit domain → {min 4,
// max 11}. This planner applies the rule 2 ≤ C ≤ √N strictly, so its
// upper end is one lower (CipherSweet's max lands at C = 1.53 and 1.53)
// and its lower end is bounded by MinBits.
func TestPlanCipherSweetExample(t *testing.T) {
	p, err := Recommend(PlanInput{Rows: 50000})
	if err != nil {
		t.Fatal(err)
	}
	if p.SafeMin != 8 || p.SafeMax != 14 || p.Bits != 14 || !p.Safe || !p.Recommended {
		t.Errorf("%+v", p)
	}
	if got := 50000 / math.Exp2(15); got >= 2 {
		t.Fatalf("CipherSweet's max 15 gives C = %v", got)
	}
	p, err = Recommend(PlanInput{Rows: 50000, Others: []OtherIndex{{Bits: 4, Distinct: 1 << 16}}})
	if err != nil {
		t.Fatal(err)
	}
	if p.SafeMin != 8 || p.SafeMax != 10 || p.OtherBits != 4 {
		t.Errorf("%+v", p)
	}
}

func TestPlanFigures(t *testing.T) {
	p, err := Recommend(PlanInput{Rows: 100000, Distinct: 100000})
	if err != nil {
		t.Fatal(err)
	}
	// 2 ≤ 100000/2^b ≤ 316.2  ⇔  9 ≤ b ≤ 15
	if p.SafeMin != 9 || p.SafeMax != 15 || p.Bits != 15 {
		t.Fatalf("%+v", p)
	}
	if math.Abs(p.Coincidences-100000/32768.0) > 1e-9 || math.Abs(p.FalsePositives-99999/32768.0) > 1e-9 {
		t.Fatalf("%+v", p)
	}
	// Card last 4: 10,000 distinct values; more than 14 bits adds nothing.
	p, _ = Recommend(PlanInput{Rows: 100000, Distinct: 10000})
	if p.InputBits != 14 || p.SafeMax != 14 || p.Bits != 14 || p.RowsPerValue != 10 {
		t.Fatalf("%+v", p)
	}
	p, _ = Recommend(PlanInput{Rows: 100000, Distinct: 10000, Bits: 32})
	if p.Recommended || p.Bits != 32 || !p.Safe || !strings.Contains(p.String(), "add nothing") {
		t.Fatalf("%+v", p)
	}
	// Default bits: within the rule from 131,072 rows.
	for _, n := range []uint64{1 << 17, 1 << 25, 1 << 32} {
		if p, _ := Recommend(PlanInput{Rows: n, Bits: DefaultBits}); !p.Safe {
			t.Errorf("%d rows: default bits unsafe: %+v", n, p)
		}
	}
	if p, _ := Recommend(PlanInput{Rows: 1<<17 - 1, Bits: DefaultBits}); p.Safe {
		t.Error("default bits safe below 131,072 rows")
	}
}

func TestPlanNoSafeSize(t *testing.T) {
	small, _ := Recommend(PlanInput{Rows: 100})
	if small.Safe || small.SafeMax != 0 || small.Bits != MinBits || !strings.Contains(small.String(), "too small") {
		t.Errorf("%+v", small)
	}
	flags, _ := Recommend(PlanInput{Rows: 100000, Distinct: 2})
	if flags.Safe || !strings.Contains(flags.String(), "compound index") {
		t.Errorf("%+v", flags)
	}
	crowded, _ := Recommend(PlanInput{Rows: 100000, Bits: 12, Others: []OtherIndex{{Bits: 16}}})
	if crowded.Safe || !strings.Contains(crowded.String(), "other indexes") {
		t.Errorf("%+v", crowded)
	}
}

func TestPlanErrors(t *testing.T) {
	for _, in := range []PlanInput{{}, {Rows: 10, Distinct: 11}, {Rows: 10, Bits: 7}, {Rows: 10, Bits: 129}, {Rows: 10, Others: []OtherIndex{{Bits: 0}}}} {
		if _, err := Recommend(in); !errors.Is(err, ErrInvalidPlan) {
			t.Errorf("%+v: %v", in, err)
		}
	}
}

func TestPlanRendering(t *testing.T) {
	p, _ := Recommend(PlanInput{Rows: 100000, Distinct: 100000, Slow: true})
	s, md := p.String(), p.Markdown()
	for _, want := range []string{"bits: 15", "false positives per lookup: 3.05", "Frequency", "Forget", "Argon2id"} {
		if !strings.Contains(s, want) || !strings.Contains(md, want) {
			t.Errorf("missing %q", want)
		}
	}
	if !strings.HasPrefix(md, "### ") || !strings.Contains(md, "\n- ") {
		t.Error("markdown is not markdown")
	}
	fast, _ := Recommend(PlanInput{Rows: 100000})
	if !strings.Contains(fast.String(), "one HMAC-SHA256") {
		t.Error("fast index: no word on guessing")
	}
}
