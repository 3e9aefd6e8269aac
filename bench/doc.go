// Package bench is fieldcrypt's benchmark suite: what users care about
// (Seal and Open of realistic structs, cold and warm), measured next to the
// floor (the same number of raw Tink AEAD calls). Results, with the command,
// machine and date that produced them, are in RESULTS.md; run.sh reruns the
// suite and prints the ratios against the baseline measured in the same run.
package bench
