package pii

// CollectStats runs phase 1 of Seal on v (a pointer to a struct) and
// reports how many values it would transform and how many pointers, slices
// and maps it walked: the work Seal does before any key is fetched.
func CollectStats(v any) (jobs, walked int, err error) {
	w := &walker{}
	w.skipEmpty = true
	err = w.collect(v, false)
	return len(w.jobs), len(w.memo), err
}
