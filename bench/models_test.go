// The benchmark model types: structs with 1, 6 and 24 encrypted string fields.

package bench

// Fields1 has 1 encrypted string fields.
type Fields1 struct {
	ID  string `pii:"subject"`
	F00 string `pii:"encrypt"`
}

func newFields1(id string) Fields1 {
	return Fields1{ID: id,
		F00: value(0),
	}
}

// Fields6 has 6 encrypted string fields.
type Fields6 struct {
	ID  string `pii:"subject"`
	F00 string `pii:"encrypt"`
	F01 string `pii:"encrypt"`
	F02 string `pii:"encrypt"`
	F03 string `pii:"encrypt"`
	F04 string `pii:"encrypt"`
	F05 string `pii:"encrypt"`
}

func newFields6(id string) Fields6 {
	return Fields6{ID: id,
		F00: value(0),
		F01: value(1),
		F02: value(2),
		F03: value(3),
		F04: value(4),
		F05: value(5),
	}
}

// Fields24 has 24 encrypted string fields.
type Fields24 struct {
	ID  string `pii:"subject"`
	F00 string `pii:"encrypt"`
	F01 string `pii:"encrypt"`
	F02 string `pii:"encrypt"`
	F03 string `pii:"encrypt"`
	F04 string `pii:"encrypt"`
	F05 string `pii:"encrypt"`
	F06 string `pii:"encrypt"`
	F07 string `pii:"encrypt"`
	F08 string `pii:"encrypt"`
	F09 string `pii:"encrypt"`
	F10 string `pii:"encrypt"`
	F11 string `pii:"encrypt"`
	F12 string `pii:"encrypt"`
	F13 string `pii:"encrypt"`
	F14 string `pii:"encrypt"`
	F15 string `pii:"encrypt"`
	F16 string `pii:"encrypt"`
	F17 string `pii:"encrypt"`
	F18 string `pii:"encrypt"`
	F19 string `pii:"encrypt"`
	F20 string `pii:"encrypt"`
	F21 string `pii:"encrypt"`
	F22 string `pii:"encrypt"`
	F23 string `pii:"encrypt"`
}

func newFields24(id string) Fields24 {
	return Fields24{ID: id,
		F00: value(0),
		F01: value(1),
		F02: value(2),
		F03: value(3),
		F04: value(4),
		F05: value(5),
		F06: value(6),
		F07: value(7),
		F08: value(8),
		F09: value(9),
		F10: value(10),
		F11: value(11),
		F12: value(12),
		F13: value(13),
		F14: value(14),
		F15: value(15),
		F16: value(16),
		F17: value(17),
		F18: value(18),
		F19: value(19),
		F20: value(20),
		F21: value(21),
		F22: value(22),
		F23: value(23),
	}
}
