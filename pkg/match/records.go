package match

import "context"

// records lays out, row by row, what the pair loop reads of each record: its group in every
// blocking rule and its value id in every comparison. Gathering a group's members then costs
// two cache misses per member instead of one per rule and per comparison, each in a
// different megabytes-long column.
type records struct {
	nr, nc int
	keys   []uint32 // n rows of nr rule keys
	ids    []uint32 // n rows of nc value ids
}

func (rs *records) keyRow(i int32) []uint32 { return rs.keys[int(i)*rs.nr : (int(i)+1)*rs.nr] }
func (rs *records) idRow(i int32) []uint32  { return rs.ids[int(i)*rs.nc : (int(i)+1)*rs.nc] }

// newRecords transposes the rules' keys and the comparisons' columns, in parallel over
// ranges of records.
func newRecords(ctx context.Context, rules []*ruleIndex, comps []*comparer, n, workers int) (*records, error) {
	rs := &records{nr: len(rules), nc: len(comps)}
	rs.keys = make([]uint32, n*rs.nr)
	rs.ids = make([]uint32, n*rs.nc)
	const span = 1 << 16
	err := forEach(ctx, workers, (n+span-1)/span, func() func(int) {
		return func(part int) {
			lo, hi := part*span, min(n, (part+1)*span)
			for r, ri := range rules {
				for i := lo; i < hi; i++ {
					rs.keys[i*rs.nr+r] = ri.keys[i]
				}
			}
			for c, cp := range comps {
				for i := lo; i < hi; i++ {
					rs.ids[i*rs.nc+c] = cp.col.ids[i]
				}
			}
		}
	})
	return rs, err
}
