//go:build race

package pii_test

// redactRaceBuild: the race detector makes sync.Pool drop items at random, so
// allocation counts are not asserted.
const redactRaceBuild = true
