package policy

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
)

const secondsPerDay = 24 * 60 * 60

// quietHours is a daily window of local wall-clock time, [start, end), in seconds after local
// midnight. When start > end the window crosses midnight: 21:00–09:00 is quiet from 21:00 up to,
// not including, 09:00, so a message held overnight goes out at 09:00 exactly.
type quietHours struct {
	start, end int
	// allowedDays is indexed by time.Weekday; every day is allowed when the spec lists none.
	allowedDays [7]bool
	purposes    []cdpv1alpha1.Purpose
}

var weekdays = map[cdpv1alpha1.Weekday]time.Weekday{
	"Sunday": time.Sunday, "Monday": time.Monday, "Tuesday": time.Tuesday, "Wednesday": time.Wednesday,
	"Thursday": time.Thursday, "Friday": time.Friday, "Saturday": time.Saturday,
}

func compileQuietHours(qh *cdpv1alpha1.QuietHours) (*quietHours, error) {
	start, err := parseClock(qh.Start)
	if err != nil {
		return nil, fmt.Errorf("spec.quietHours.start: %w", err)
	}
	end, err := parseClock(qh.End)
	if err != nil {
		return nil, fmt.Errorf("spec.quietHours.end: %w", err)
	}
	if start == end {
		return nil, fmt.Errorf("spec.quietHours.start and end are both %s: a window must have a length (to hold messages all day, limit spec.quietHours.allowedDays instead)", qh.Start)
	}
	q := &quietHours{start: start, end: end}
	// An empty list allows every day, so a policy always has an allowed day and NextAllowed
	// always finds an instant: within a week, unless a clock change skips an allowed day.
	for i, d := range qh.AllowedDays {
		wd, ok := weekdays[d]
		if !ok {
			return nil, fmt.Errorf("spec.quietHours.allowedDays[%d] is %q: write a day in English, Monday to Sunday", i, d)
		}
		q.allowedDays[wd] = true
	}
	if len(qh.AllowedDays) == 0 {
		q.allowedDays = [7]bool{true, true, true, true, true, true, true}
	}
	for i, purpose := range qh.Purposes {
		if !validPurpose(purpose) {
			return nil, fmt.Errorf("spec.quietHours.purposes[%d] is %q: write Marketing or Transactional", i, purpose)
		}
		q.purposes = append(q.purposes, purpose)
	}
	if len(q.purposes) == 0 {
		q.purposes = []cdpv1alpha1.Purpose{cdpv1alpha1.PurposeMarketing}
	}
	return q, nil
}

// parseClock reads HH:MM (00:00 to 23:59) as seconds after midnight.
func parseClock(s string) (int, error) {
	if len(s) != 5 || s[2] != ':' {
		return 0, fmt.Errorf("%q is not a time of day: write HH:MM between 00:00 and 23:59, e.g. 21:00", s)
	}
	for i, c := range []byte(s) {
		if i == 2 {
			continue
		}
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a time of day: write HH:MM between 00:00 and 23:59, e.g. 21:00", s)
		}
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	if h > 23 || m > 59 {
		return 0, fmt.Errorf("%q is not a time of day: write HH:MM between 00:00 and 23:59, e.g. 21:00", s)
	}
	return h*3600 + m*60, nil
}

func (q *quietHours) appliesTo(purpose cdpv1alpha1.Purpose) bool {
	for _, p := range q.purposes {
		if p == purpose {
			return true
		}
	}
	return false
}

// quietAt says whether a local time of day, in seconds after midnight, lies in the window.
func (q *quietHours) quietAt(second int) bool {
	if q.start < q.end {
		return q.start <= second && second < q.end
	}
	return second >= q.start || second < q.end
}

// NextAllowed returns when a message of the purpose may go out to a recipient in zone (nil means
// the policy's default zone): at itself when it may go out then, otherwise the first instant
// after at, in zone, that lies outside the quiet window on an allowed day of the recipient's
// local calendar. Quiet hours and allowed days hold back only the purposes the policy lists.
//
// Local time is read as the wall clock shows it, with daylight saving time: when the clock skips
// the end of the window (spring forward), the message goes out at the instant the clock skips;
// when it repeats an hour (fall back), the first instant the wall clock leaves the window counts.
func (p *Policy) NextAllowed(at time.Time, purpose cdpv1alpha1.Purpose, zone *time.Location) time.Time {
	q := p.quiet
	if q == nil || !q.appliesTo(effectivePurpose(purpose)) {
		return at
	}
	if zone == nil {
		zone = p.defaultZone
	}
	allowed, next := q.step(at.In(zone))
	if allowed {
		return at
	}
	// Each step moves forward, and an allowed day comes within a week, so the loop ends after a
	// few dozen steps at most.
	for {
		t := next
		if allowed, next = q.step(t); allowed {
			return t
		}
	}
}

// step says whether t may send and, when it may not, the next instant at which that can change:
// the next end of the window, the next local midnight (a new day, which may be allowed), or the
// next change of the zone's offset, whichever comes first. Within one offset the wall clock is
// the instant plus a constant, so the first two are found by arithmetic on the wall clock.
func (q *quietHours) step(t time.Time) (allowed bool, next time.Time) {
	_, offset := t.Zone()
	wall := t.Unix() + int64(offset)
	day := floorDiv(wall, secondsPerDay)
	second := int(wall - day*secondsPerDay)
	allowedDay := q.allowedDays[weekdayOf(day)]
	if allowedDay && !q.quietAt(second) {
		return true, t
	}
	boundary := (day + 1) * secondsPerDay
	if allowedDay && q.end > second {
		boundary = day*secondsPerDay + int64(q.end)
	}
	next = t.Add(time.Duration(boundary-wall)*time.Second - time.Duration(t.Nanosecond()))
	if _, change := t.ZoneBounds(); !change.IsZero() && change.Before(next) {
		next = change
	}
	return false, next
}

// floorDiv divides rounding towards minus infinity, so instants before 1970 fall on the right day.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

// weekdayOf is the weekday of a day counted from 1970-01-01, a Thursday.
func weekdayOf(day int64) time.Weekday {
	return time.Weekday(((day+4)%7 + 7) % 7)
}

// Location returns the recipient's time zone: the IANA name in the policy's time-zone attribute
// (timezone unless the policy names another), or the policy's default zone when the attribute is
// missing, not a string, or not a zone name. "Local" is not accepted, so that a recipient's zone
// never depends on the zone of the machine that sends.
func (p *Policy) Location(attributes map[string]any) *time.Location {
	name, ok := attributes[p.zoneAttribute].(string)
	if !ok {
		return p.defaultZone
	}
	name = strings.TrimSpace(name)
	if name == "" || name == "Local" {
		return p.defaultZone
	}
	if loc := p.zones.load(name); loc != nil {
		return loc
	}
	return p.defaultZone
}

// maxCachedZones bounds the cache: names come from customer data, and a source full of distinct
// misspellings must not grow it without end. The IANA database has about 600 names, zones and
// links together, so every real name fits.
const maxCachedZones = 4096

// zoneCache remembers loaded zones, and names that are not zones, so that a run over millions of
// recipients reads the zone database once per name.
type zoneCache struct {
	byName sync.Map // string → *time.Location, nil for a name that is not a zone
	size   atomic.Int64
}

func (c *zoneCache) load(name string) *time.Location {
	if v, ok := c.byName.Load(name); ok {
		return v.(*time.Location)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		loc = nil
	}
	if c.size.Load() < maxCachedZones {
		if _, loaded := c.byName.LoadOrStore(name, loc); !loaded {
			c.size.Add(1)
		}
	}
	return loc
}
