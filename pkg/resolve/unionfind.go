package resolve

// linkSet is a union-find (disjoint-set) forest over record indexes, with union by size and path
// halving: linking millions of records costs little more than reading them.
type linkSet struct {
	parent []int32
	size   []int32
}

func newLinkSet(n int) *linkSet {
	s := &linkSet{parent: make([]int32, n), size: make([]int32, n)}
	for i := range s.parent {
		s.parent[i] = int32(i)
		s.size[i] = 1
	}
	return s
}

func (s *linkSet) find(x int32) int32 {
	for s.parent[x] != x {
		s.parent[x] = s.parent[s.parent[x]]
		x = s.parent[x]
	}
	return x
}

// union joins the sets of a and b and reports whether they were apart.
func (s *linkSet) union(a, b int32) bool {
	ra, rb := s.find(a), s.find(b)
	if ra == rb {
		return false
	}
	if s.size[ra] < s.size[rb] {
		ra, rb = rb, ra
	}
	s.parent[rb] = ra
	s.size[ra] += s.size[rb]
	return true
}

// clusters returns the sets, each in ascending record order, ordered by their first record.
// The members of all sets share one array: millions of small slices would cost an allocation
// each, and the garbage collector's time.
func (s *linkSet) clusters() [][]int32 {
	n := len(s.parent)
	index := make([]int32, n) // root -> cluster index + 1
	var sizes []int32
	for i := range n {
		r := s.find(int32(i))
		if index[r] == 0 {
			sizes = append(sizes, 0)
			index[r] = int32(len(sizes))
		}
		sizes[index[r]-1]++
	}
	members := make([]int32, n)
	out := make([][]int32, len(sizes))
	start := 0
	for c, size := range sizes {
		out[c] = members[start : start : start+int(size)]
		start += int(size)
	}
	for i := range n {
		c := index[s.find(int32(i))] - 1
		out[c] = append(out[c], int32(i))
	}
	return out
}
