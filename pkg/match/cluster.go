package match

// Cluster groups n records into entities through the links (union-find with path halving and
// union by size) and returns each record's cluster: the smallest record index in it, so the
// labelling does not depend on the order of the links.
func Cluster(n int, links []Pair) []int32 {
	parent := make([]int32, n)
	size := make([]int32, n)
	for i := range parent {
		parent[i], size[i] = int32(i), 1
	}
	find := func(x int32) int32 {
		for parent[x] != x {
			parent[x] = parent[parent[x]]
			x = parent[x]
		}
		return x
	}
	for _, l := range links {
		a, b := find(l.A), find(l.B)
		if a == b {
			continue
		}
		if size[a] < size[b] {
			a, b = b, a
		}
		parent[b] = a
		size[a] += size[b]
	}
	// Relabel every cluster by its smallest member: the first member met in index order.
	label := make([]int32, n)
	for i := range label {
		label[i] = -1
	}
	out := make([]int32, n)
	for i := range n {
		r := find(int32(i))
		if label[r] < 0 {
			label[r] = int32(i)
		}
		out[i] = label[r]
	}
	return out
}
