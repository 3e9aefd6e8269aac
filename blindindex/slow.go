package blindindex

import (
	"strconv"
	"strings"
)

// Argon2Params are the Argon2id parameters of a slow index. They are part
// of the index definition (and so of its key): changing them changes
// every term, like a new key version.
type Argon2Params struct {
	MemoryKiB uint32 // memory, in KiB
	Time      uint32 // passes over the memory
	Threads   uint8  // lanes (and goroutines)
}

// DefaultSlow is what the bare option "slow" means: OWASP's first
// recommended Argon2id configuration (m = 19 MiB, t = 2, p = 1; OWASP
// Password Storage Cheat Sheet), about 22 ms per term on one core of the
// 2-core test machine (BenchmarkSlowTerm). An attacker holding the index key pays the
// same for every guess.
var DefaultSlow = Argon2Params{MemoryKiB: 19 * 1024, Time: 2, Threads: 1}

// Bounds of Argon2Params. MemoryKiB must also be at least 8 per thread,
// as Argon2 requires.
const (
	MinSlowMemoryKiB = 8
	MaxSlowMemoryKiB = 4 << 20 // 4 GiB
	MaxSlowTime      = 64
	MaxSlowThreads   = 16
)

// ParseSlow parses the value of a slow option: "" means DefaultSlow;
// otherwise up to three parts joined by '+', in this order, each
// optional: mKiB, tN, pN ("m65536+t3", "t1"), the parts left out taken
// from DefaultSlow. Anything else is a *SpecError.
func ParseSlow(spec string) (Argon2Params, error) {
	p := DefaultSlow
	if spec == "" {
		return p, nil
	}
	order := "mtp"
	last := -1
	for tok := range strings.SplitSeq(spec, "+") {
		if tok == "" {
			return Argon2Params{}, &SpecError{Option: spec, Reason: "empty slow part (parts are joined by a single '+')"}
		}
		k := strings.IndexByte(order, tok[0])
		if k < 0 {
			return Argon2Params{}, &SpecError{Option: tok, Reason: "unknown slow part (known: mKiB, tN, pN)"}
		}
		if k <= last {
			return Argon2Params{}, &SpecError{Option: tok, Reason: "slow parts are written once each, in the order m, t, p"}
		}
		last = k
		num := tok[1:]
		n, err := strconv.ParseUint(num, 10, 32)
		if err != nil || num[0] == '0' || num[0] == '+' {
			return Argon2Params{}, &SpecError{Option: tok, Reason: "needs a positive decimal number"}
		}
		switch tok[0] {
		case 'm':
			p.MemoryKiB = uint32(n)
		case 't':
			p.Time = uint32(n)
		case 'p':
			if n > MaxSlowThreads {
				return Argon2Params{}, &SpecError{Option: tok, Reason: "at most " + strconv.Itoa(MaxSlowThreads) + " threads"}
			}
			p.Threads = uint8(n)
		}
	}
	if err := p.Validate(); err != nil {
		return Argon2Params{}, err
	}
	return p, nil
}

// Validate checks p against the bounds above, with a *SpecError.
func (p Argon2Params) Validate() error {
	switch {
	case p.Threads < 1 || p.Threads > MaxSlowThreads:
		return &SpecError{Option: p.String(), Reason: "threads must be 1 to " + strconv.Itoa(MaxSlowThreads)}
	case p.Time < 1 || p.Time > MaxSlowTime:
		return &SpecError{Option: p.String(), Reason: "time must be 1 to " + strconv.Itoa(MaxSlowTime)}
	case p.MemoryKiB < MinSlowMemoryKiB*uint32(p.Threads) || p.MemoryKiB > MaxSlowMemoryKiB:
		return &SpecError{Option: p.String(), Reason: "memory must be at least 8 KiB per thread and at most 4 GiB"}
	}
	return nil
}

// String returns the canonical spec of p ("m19456+t2+p1"), which
// ParseSlow parses back to p.
func (p Argon2Params) String() string {
	return "m" + strconv.FormatUint(uint64(p.MemoryKiB), 10) +
		"+t" + strconv.FormatUint(uint64(p.Time), 10) +
		"+p" + strconv.FormatUint(uint64(p.Threads), 10)
}
