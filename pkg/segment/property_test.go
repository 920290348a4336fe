package segment

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"
	_ "time/tzdata" // America/New_York, for a location with daylight saving time

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
)

// TestCompiledMatchesEvaluate generates random data and random rules from a fixed seed and
// requires the compiled query, on both databases, to select exactly what Evaluate selects.
func TestCompiledMatchesEvaluate(t *testing.T) {
	const rules = 300
	g := newGenerator(rand.New(rand.NewPCG(20260314, 1)))
	data := g.dataset()
	dbs := openDatabases(t)
	for _, d := range dbs {
		d.write(t, data)
	}
	newYork, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	locations := []*time.Location{time.UTC, tokyo, newYork}
	// Clocks: the data's own, the last days of a year, the eve of a leap day, the night of a
	// daylight saving change in New York.
	clocks := []time.Time{g.now, utc("2026-12-30T23:30:00Z"), utc("2028-02-28T12:00:00Z"), utc("2026-03-08T06:30:00Z")}
	matched := 0
	for i := range rules {
		// The last third are mostly events, so that many rules have tests sharing a scan.
		g.eventsFirst = i >= rules*2/3
		rule := g.rule()
		opts := Options{
			Namespace: testNamespace, Resolution: testResolution, Slot: testSlot,
			Now: clocks[g.r.IntN(len(clocks))], Location: locations[g.r.IntN(len(locations))],
			Attributes: g.attributes, EventProperties: g.properties,
		}
		want, err := Evaluate(&rule, data, opts)
		if err != nil {
			t.Fatalf("rule %d: %v\n%s", i, err, show(rule))
		}
		if len(want) > 0 && len(want) < len(data.Profiles) {
			matched++
		}
		for _, d := range dbs {
			opts.Dialect = d.dialect
			q, err := Compile(&rule, opts)
			if err != nil {
				t.Fatalf("rule %d: %v", i, err)
			}
			got := d.query(t, q, true)
			if !slices.IsSorted(got) {
				t.Errorf("rule %d, %s: the profiles are not in ID order", i, d.dialect)
			}
			if missing, extra := difference(want, got), difference(got, want); len(missing)+len(extra) > 0 {
				t.Errorf("rule %d, %s, now %s in %s: the query misses %v and adds %v\n%s\n%s\nargs: %v",
					i, d.dialect, opts.Now.Format(time.RFC3339), opts.Location, missing, extra, show(rule), q.SQL, q.Args)
			}
		}
	}
	// Rules that select nobody or everybody prove little: most must split the profiles.
	if matched < rules/2 {
		t.Errorf("only %d of %d rules selected some but not all profiles: the generator needs better values", matched, rules)
	}
}

func show(rule cdpv1alpha1.SegmentRule) string {
	b, _ := json.MarshalIndent(rule, "", "  ")
	return string(b)
}

// difference lists what a holds and b does not.
func difference(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// generator makes random data and rules over it. Values come from small pools shared by the
// data and the rules, so that rules hit: equal texts, the very instants stored, the days
// around now.
type generator struct {
	r          *rand.Rand
	now        time.Time
	attributes map[string]cdpv1alpha1.AttributeType
	properties map[string]cdpv1alpha1.AttributeType
	// Pools of values by field.
	texts     map[string][]string
	numbers   []float64
	instants  []time.Time
	days      []time.Time
	eventIDs  [][2]string
	profileID []string
	// eventsFirst makes most conditions event conditions, of purchases.
	eventsFirst bool
	lastWhere   []cdpv1alpha1.AttributeCondition
}

func newGenerator(r *rand.Rand) *generator {
	g := &generator{
		r:   r,
		now: utc("2026-03-14T20:00:00Z"),
		attributes: map[string]cdpv1alpha1.AttributeType{
			"prefecture": cdpv1alpha1.AttributeString, "address.city": cdpv1alpha1.AttributeString,
			"age": cdpv1alpha1.AttributeNumber, "score": cdpv1alpha1.AttributeNumber,
			"vip": cdpv1alpha1.AttributeBoolean, "birthday": cdpv1alpha1.AttributeDate,
			"last_login": cdpv1alpha1.AttributeTimestamp,
		},
		properties: map[string]cdpv1alpha1.AttributeType{
			"amount": cdpv1alpha1.AttributeNumber, "category": cdpv1alpha1.AttributeString,
			"coupon": cdpv1alpha1.AttributeBoolean, "shipped_at": cdpv1alpha1.AttributeTimestamp,
		},
		texts: map[string][]string{
			"prefecture":   {"東京都", "神奈川県", "大阪府", "北海道", "東京都 ", "", "100%", "a_b", `x\y`, "O'Reilly", "'; DROP TABLE profiles;--"},
			"address.city": {"渋谷区", "新宿区", "札幌市", "Shibuya", "shibuya", "渋谷"},
			"category":     {"books", "food", "toys", "book", "Books", ""},
		},
		numbers: []float64{-5, -0.5, 0, 1, 2.5, 10, 18, 25, 34, 41.5, 60, 100, 1e6},
	}
	for i := range 40 {
		// Instants near now, some on the nanosecond, some on whole days before it.
		switch i % 4 {
		case 0:
			g.instants = append(g.instants, g.now.Add(-time.Duration(g.r.Int64N(int64(400*24*time.Hour)))))
		case 1:
			g.instants = append(g.instants, g.now.Add(-day(float64(g.r.IntN(100)))))
		case 2:
			g.instants = append(g.instants, g.now.Add(time.Duration(g.r.Int64N(int64(48*time.Hour)))-24*time.Hour))
		default:
			g.instants = append(g.instants, g.now.Add(-time.Duration(g.r.Int64N(int64(3*365*24*time.Hour)))).Truncate(time.Second))
		}
	}
	for range 30 {
		// Dates of every era whose month and day fall around the clocks of the test.
		year := 1950 + g.r.IntN(77)
		base := []time.Time{g.now, utc("2026-12-30T00:00:00Z"), utc("2028-02-28T00:00:00Z"), utc("2026-03-08T00:00:00Z")}[g.r.IntN(4)]
		md := base.AddDate(0, 0, g.r.IntN(40)-10)
		g.days = append(g.days, time.Date(year, md.Month(), md.Day(), 0, 0, 0, 0, time.UTC))
	}
	g.days = append(g.days, date("2000-02-29"), date("1996-02-29"), date("1990-12-31"), date("1990-01-01"))
	return g
}

func (g *generator) pick(n int) int { return g.r.IntN(n) }

func (g *generator) chance(p float64) bool { return g.r.Float64() < p }

// dataset makes 80 profiles and 900 events.
func (g *generator) dataset() Dataset {
	data := Dataset{Links: map[[2]string]string{}, Members: map[string][]string{}}
	const base32 = "abcdefghijklmnopqrstuvwxyz234567"
	for i := range 80 {
		id := fmt.Sprintf("p%02d", i)
		if i%2 == 0 {
			// Like minted IDs: a prefix and sixteen base32 characters.
			b := []byte("cus-")
			for range 16 {
				b = append(b, base32[g.pick(32)])
			}
			id = string(b)
		}
		g.profileID = append(g.profileID, id)
		p := Profile{ID: id, Identifiers: map[string][]string{}, Attributes: map[string]any{}}
		for _, path := range keys(g.attributes) {
			if g.chance(0.25) {
				continue
			}
			p.Attributes[path] = g.storedValue(path, g.attributes[path])
		}
		for _, idType := range []string{"Email", "Phone", "CustomerID"} {
			switch {
			case g.chance(0.5):
			case g.chance(0.2):
				p.Identifiers[idType] = []string{}
			default:
				p.Identifiers[idType] = []string{fmt.Sprintf("%s-%d", idType, i)}
			}
		}
		// Events reach the profile through one or two raw identifiers.
		for k := range 1 + g.pick(2) {
			raw := [2]string{[]string{"Email", "Phone"}[k], fmt.Sprintf("raw-%d-%d", i, k)}
			data.Links[raw] = id
			g.eventIDs = append(g.eventIDs, raw)
		}
		for _, s := range []string{"s1", "s2"} {
			if g.chance(0.3) {
				data.Members[s] = append(data.Members[s], id)
			}
		}
		data.Profiles = append(data.Profiles, p)
	}
	// Identifiers that reach nobody.
	g.eventIDs = append(g.eventIDs, [2]string{"Email", "stranger"}, [2]string{"Phone", "stranger"})
	for range 900 {
		id := g.eventIDs[g.pick(len(g.eventIDs))]
		e := Event{
			Type:       []string{"purchase", "purchase", "purchase", "email_opened", "refund"}[g.pick(5)],
			OccurredAt: g.now.Add(-time.Duration(g.r.Int64N(int64(420*24*time.Hour))) + 2*24*time.Hour).Truncate(time.Microsecond),
			// A fifth of the events on the same instants, for ties.
			IdentifierType: id[0], IdentifierValue: id[1], Properties: map[string]any{},
		}
		if g.chance(0.2) {
			e.OccurredAt = g.now.Add(-day(float64(g.pick(100)))).Truncate(time.Microsecond)
		}
		for _, path := range keys(g.properties) {
			if g.chance(0.2) {
				continue
			}
			e.Properties[path] = g.storedValue(path, g.properties[path])
		}
		if a, ok := e.Properties["amount"].(float64); ok {
			// Whole amounts: sums are exact in any order.
			e.Properties["amount"] = float64(int64(a*10) % 50000)
		}
		data.Events = append(data.Events, e)
	}
	return data
}

// storedValue is a value of a field as stored, now and then of the wrong type.
func (g *generator) storedValue(path string, typ cdpv1alpha1.AttributeType) any {
	if g.chance(0.05) {
		return []any{"text", 7.0, true, "2026-01-01"}[g.pick(4)]
	}
	switch typ {
	case cdpv1alpha1.AttributeString:
		return g.texts[path][g.pick(len(g.texts[path]))]
	case cdpv1alpha1.AttributeNumber:
		return g.numbers[g.pick(len(g.numbers))]
	case cdpv1alpha1.AttributeBoolean:
		return g.chance(0.5)
	case cdpv1alpha1.AttributeDate:
		return g.days[g.pick(len(g.days))]
	}
	return g.instants[g.pick(len(g.instants))]
}

// rule makes a rule of up to three levels.
func (g *generator) rule() cdpv1alpha1.SegmentRule {
	switch g.pick(4) {
	case 0:
		return cdpv1alpha1.SegmentRule{All: g.nestedRules()}
	case 1:
		return cdpv1alpha1.SegmentRule{Any: g.nestedRules()}
	case 2:
		n := g.nestedRule()
		return cdpv1alpha1.SegmentRule{Not: &n}
	}
	return cdpv1alpha1.SegmentRule{Condition: g.condition()}
}

func (g *generator) nestedRules() []cdpv1alpha1.NestedRule {
	rules := make([]cdpv1alpha1.NestedRule, 1+g.pick(3))
	for i := range rules {
		rules[i] = g.nestedRule()
	}
	return rules
}

func (g *generator) nestedRule() cdpv1alpha1.NestedRule {
	switch g.pick(5) {
	case 0:
		return cdpv1alpha1.NestedRule{All: g.leafRules()}
	case 1:
		return cdpv1alpha1.NestedRule{Any: g.leafRules()}
	case 2:
		l := g.leafRule()
		return cdpv1alpha1.NestedRule{Not: &l}
	}
	return cdpv1alpha1.NestedRule{Condition: g.condition()}
}

func (g *generator) leafRules() []cdpv1alpha1.LeafRule {
	rules := make([]cdpv1alpha1.LeafRule, 1+g.pick(3))
	for i := range rules {
		rules[i] = g.leafRule()
	}
	return rules
}

func (g *generator) leafRule() cdpv1alpha1.LeafRule {
	return cdpv1alpha1.LeafRule{Negate: g.chance(0.3), Condition: g.condition()}
}

func (g *generator) condition() cdpv1alpha1.Condition {
	if g.eventsFirst && g.chance(0.7) {
		return cdpv1alpha1.Condition{Event: g.eventCondition()}
	}
	switch n := g.pick(20); {
	case n < 10:
		paths := keys(g.attributes)
		path := paths[g.pick(len(paths))]
		return cdpv1alpha1.Condition{Attribute: g.attributeCondition(path, g.attributes[path])}
	case n < 11:
		return identifier([]cdpv1alpha1.IdentifierType{"Email", "Phone", "CustomerID", "LineUserID"}[g.pick(4)])
	case n < 16:
		return cdpv1alpha1.Condition{Event: g.eventCondition()}
	case n < 17:
		return member([]string{"s1", "s2", "s3"}[g.pick(3)])
	case n < 19:
		return cdpv1alpha1.Condition{RFM: g.rfmCondition()}
	}
	from := int32(g.pick(100))
	return bucket([]string{"a", "spring-sale", "テスト"}[g.pick(3)], from, from+int32(g.pick(100-int(from))))
}

func keys(m map[string]cdpv1alpha1.AttributeType) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

var durations = []string{"30m", "1h", "12h", "1d", "3d", "7d", "2w", "30d", "90d", "365d", "52w", "60w"}

func (g *generator) duration() *cdpv1alpha1.Duration {
	return duration(durations[g.pick(len(durations))])
}

// attributeCondition makes a valid test of a field of that type.
func (g *generator) attributeCondition(path string, typ cdpv1alpha1.AttributeType) *cdpv1alpha1.AttributeCondition {
	var ops []cdpv1alpha1.Operator
	for op, spec := range operators {
		if slices.Contains(spec.types, typ) {
			ops = append(ops, op)
		}
	}
	slices.Sort(ops)
	op := ops[g.pick(len(ops))]
	a := &cdpv1alpha1.AttributeCondition{Path: cdpv1alpha1.AttributeName(path), Operator: op}
	switch operators[op].operand {
	case oneValue:
		v := g.operand(path, typ)
		a.Value = &v
	case valueList:
		for range 1 + g.pick(3) {
			a.Values = append(a.Values, g.operand(path, typ))
		}
	case twoValues:
		lo, hi := g.operand(path, typ), g.operand(path, typ)
		probe := &attributeTest{typ: typ, path: path}
		if probe.addValue(lo) == nil && probe.addValue(hi) == nil && !probe.ordered() {
			lo, hi = hi, lo
		}
		a.Values = []string{lo, hi}
	case aDuration:
		a.Duration = g.duration()
	}
	return a
}

// operand writes a value of the type as a rule would, mostly one found in the data.
func (g *generator) operand(path string, typ cdpv1alpha1.AttributeType) string {
	switch typ {
	case cdpv1alpha1.AttributeString:
		pool := g.texts[path]
		if g.chance(0.8) {
			return pool[g.pick(len(pool))]
		}
		s := pool[g.pick(len(pool))]
		if r := []rune(s); len(r) > 1 {
			return string(r[:1+g.pick(len(r)-1)])
		}
		return "%"
	case cdpv1alpha1.AttributeNumber:
		return strconv.FormatFloat(g.numbers[g.pick(len(g.numbers))], 'f', -1, 64)
	case cdpv1alpha1.AttributeBoolean:
		return strconv.FormatBool(g.chance(0.5))
	}
	var t time.Time
	if typ == cdpv1alpha1.AttributeDate && g.chance(0.7) || g.chance(0.2) {
		t = g.days[g.pick(len(g.days))]
	} else {
		t = g.instants[g.pick(len(g.instants))]
	}
	switch g.pick(3) {
	case 0:
		return t.Format(time.DateOnly)
	case 1:
		return t.UTC().Format(time.RFC3339Nano)
	}
	// The same instant written in another offset, which moves its date as written.
	return t.In(time.FixedZone("", (g.pick(27)-12)*3600)).Format(time.RFC3339Nano)
}

func (g *generator) eventCondition() *cdpv1alpha1.EventCondition {
	// Mostly purchases without a filter, so that tests often share a scan.
	e := &cdpv1alpha1.EventCondition{Type: cdpv1alpha1.AttributeName([]string{"purchase", "purchase", "purchase", "email_opened", "refund", "never"}[g.pick(6)])}
	if g.eventsFirst {
		e.Type = "purchase"
	}
	if g.chance(0.5) {
		// The filter of the previous event condition: the two share a scan.
		e.Where = slices.Clone(g.lastWhere)
	} else {
		for range max(0, g.pick(5)-2) {
			paths := keys(g.properties)
			path := paths[g.pick(len(paths))]
			e.Where = append(e.Where, *g.attributeCondition(path, g.properties[path]))
		}
		g.lastWhere = e.Where
	}
	switch g.pick(3) {
	case 0:
		e.Within = g.duration()
	case 1:
		from := g.now.Add(-day(float64(g.pick(400))))
		to := from.Add(day(float64(g.pick(200))))
		e.Between = &cdpv1alpha1.DateRange{From: from.Format(time.DateOnly), To: to.Format(time.DateOnly)}
		if g.chance(0.5) {
			e.Between = &cdpv1alpha1.DateRange{From: from.Format(time.RFC3339), To: to.Format(time.RFC3339)}
		}
	}
	comparisons := []cdpv1alpha1.ComparisonOperator{"Equals", "NotEquals", "GreaterThan", "GreaterThanOrEqual", "LessThan", "LessThanOrEqual"}
	switch g.pick(4) {
	case 0:
		e.Count = count(comparisons[g.pick(6)], int64(g.pick(5)))
	case 1:
		e.Sum = sum("amount", comparisons[g.pick(6)], strconv.Itoa(g.pick(40000)-2000))
	}
	if g.chance(0.25) {
		e.FirstPerformed = g.relativeTime()
	}
	if g.chance(0.25) {
		e.LastPerformed = g.relativeTime()
	}
	return e
}

func (g *generator) relativeTime() *cdpv1alpha1.RelativeTime {
	if g.chance(0.5) {
		return &cdpv1alpha1.RelativeTime{Within: g.duration()}
	}
	return &cdpv1alpha1.RelativeTime{NotWithin: g.duration()}
}

func (g *generator) rfmCondition() *cdpv1alpha1.RFMCondition {
	r := &cdpv1alpha1.RFMCondition{EventType: cdpv1alpha1.AttributeName([]string{"purchase", "email_opened"}[g.pick(2)])}
	if g.chance(0.5) {
		r.Window = g.duration()
	}
	score := func() *cdpv1alpha1.ScoreRange {
		lo := int32(1 + g.pick(5))
		return scores(lo, lo+int32(g.pick(int(6-lo))))
	}
	for r.Recency == nil && r.Frequency == nil && r.Monetary == nil {
		if g.chance(0.5) {
			r.Recency = score()
		}
		if g.chance(0.5) {
			r.Frequency = score()
		}
		if g.chance(0.5) {
			r.Monetary, r.AmountProperty = score(), "amount"
		}
	}
	return r
}
