package tokenize

import "sync"

// scratch is one call's working memory, borrowed from a pool. The CBC-MAC
// state goes to cipher.Block.Encrypt, an interface call, so a stack array
// would move to the heap on every call.
//
// Its size is exactly 128 bytes (scratchSize, checked by a test), an
// allocation size class whose objects are 128-byte aligned: two
// goroutines' scratch never shares a cache line, nor the pair of lines an
// adjacent-line prefetcher fetches together. When two CPUs each wrote
// their own 32-byte state within one line, the line bounced between them
// on every AES block and two CPUs ran FF1 barely faster than one.
type scratch struct {
	state [16]byte // the running CBC-MAC state R
	ext   [16]byte // the next block of S, when S is longer than R
	big   *bigScratch
	_     [128 - 2*16 - 8]byte
}

// scratchSize is the size scratch must keep (see its doc).
const scratchSize = 128

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}
