//go:build !race

package pii_test

const redactRaceBuild = false
