package policy

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
	_ "time/tzdata" // the zones below, also where the machine has no zone database

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
)

func zone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func instant(t testing.TB, s string) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

func compile(t testing.TB, spec *cdpv1alpha1.DeliveryPolicySpec) *Policy {
	t.Helper()
	p, err := Compile(spec)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func quietPolicy(t testing.TB, start, end string, days []cdpv1alpha1.Weekday, purposes ...cdpv1alpha1.Purpose) *Policy {
	t.Helper()
	return compile(t, &cdpv1alpha1.DeliveryPolicySpec{QuietHours: &cdpv1alpha1.QuietHours{
		Start: start, End: end, AllowedDays: days, Purposes: purposes,
	}})
}

var weekdaysOnly = []cdpv1alpha1.Weekday{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday"}

// TestNextAllowed pins the decisions at the edges: the window's start is quiet and its end is
// not (21:00–09:00 sends at 09:00:00), allowed days follow the recipient's calendar, and daylight
// saving changes neither send inside the window nor skip an allowed day.
func TestNextAllowed(t *testing.T) {
	const (
		marketing     = cdpv1alpha1.PurposeMarketing
		transactional = cdpv1alpha1.PurposeTransactional
	)
	tests := []struct {
		name       string
		start, end string
		days       []cdpv1alpha1.Weekday
		purposes   []cdpv1alpha1.Purpose
		zone       string
		at         string
		// purpose is Marketing when unset, as in a Campaign.
		purpose cdpv1alpha1.Purpose
		want    string
	}{
		// A window within one day, 12:00–13:00 in Tokyo.
		{name: "before a daytime window", start: "12:00", end: "13:00", zone: "Asia/Tokyo", at: "2026-03-16T11:59:59+09:00", want: "2026-03-16T11:59:59+09:00"},
		{name: "at the start of a daytime window", start: "12:00", end: "13:00", zone: "Asia/Tokyo", at: "2026-03-16T12:00:00+09:00", want: "2026-03-16T13:00:00+09:00"},
		{name: "inside a daytime window", start: "12:00", end: "13:00", zone: "Asia/Tokyo", at: "2026-03-16T12:30:15.5+09:00", want: "2026-03-16T13:00:00+09:00"},
		{name: "a nanosecond before the end", start: "12:00", end: "13:00", zone: "Asia/Tokyo", at: "2026-03-16T12:59:59.999999999+09:00", want: "2026-03-16T13:00:00+09:00"},
		{name: "at the end of a daytime window", start: "12:00", end: "13:00", zone: "Asia/Tokyo", at: "2026-03-16T13:00:00+09:00", want: "2026-03-16T13:00:00+09:00"},
		{name: "a window starting at midnight", start: "00:00", end: "06:00", zone: "Asia/Tokyo", at: "2026-03-16T00:00:00+09:00", want: "2026-03-16T06:00:00+09:00"},
		{name: "a window ending at midnight", start: "21:00", end: "00:00", zone: "Asia/Tokyo", at: "2026-03-16T22:00:00+09:00", want: "2026-03-17T00:00:00+09:00"},

		// A window across midnight, 21:00–09:00 in Tokyo.
		{name: "evening before the night window", start: "21:00", end: "09:00", zone: "Asia/Tokyo", at: "2026-03-16T20:59:00+09:00", want: "2026-03-16T20:59:00+09:00"},
		{name: "at the start of the night window", start: "21:00", end: "09:00", zone: "Asia/Tokyo", at: "2026-03-16T21:00:00+09:00", want: "2026-03-17T09:00:00+09:00"},
		{name: "before midnight", start: "21:00", end: "09:00", zone: "Asia/Tokyo", at: "2026-03-16T23:30:00+09:00", want: "2026-03-17T09:00:00+09:00"},
		{name: "after midnight", start: "21:00", end: "09:00", zone: "Asia/Tokyo", at: "2026-03-17T03:00:00+09:00", want: "2026-03-17T09:00:00+09:00"},
		{name: "at the end of the night window", start: "21:00", end: "09:00", zone: "Asia/Tokyo", at: "2026-03-17T09:00:00+09:00", want: "2026-03-17T09:00:00+09:00"},
		{name: "the instant is read in the recipient's zone", start: "21:00", end: "09:00", zone: "Asia/Tokyo", at: "2026-03-16T13:00:00Z", want: "2026-03-17T09:00:00+09:00"},

		// Allowed days, Monday to Friday: 2026-03-16T02:00Z is Monday 11:00 in Tokyo and Sunday
		// 19:00 in Los Angeles.
		{name: "Monday in Tokyo", start: "21:00", end: "09:00", days: weekdaysOnly, zone: "Asia/Tokyo", at: "2026-03-16T02:00:00Z", want: "2026-03-16T02:00:00Z"},
		{name: "the same instant is Sunday in Los Angeles", start: "21:00", end: "09:00", days: weekdaysOnly, zone: "America/Los_Angeles", at: "2026-03-16T02:00:00Z", want: "2026-03-16T09:00:00-07:00"},
		{name: "Friday night waits for Monday", start: "21:00", end: "09:00", days: weekdaysOnly, zone: "Asia/Tokyo", at: "2026-03-20T22:00:00+09:00", want: "2026-03-23T09:00:00+09:00"},
		{name: "Saturday noon waits for Monday", start: "21:00", end: "09:00", days: weekdaysOnly, zone: "Asia/Tokyo", at: "2026-03-21T12:00:00+09:00", want: "2026-03-23T09:00:00+09:00"},
		{name: "Sunday only, from Monday", start: "21:00", end: "09:00", days: []cdpv1alpha1.Weekday{"Sunday"}, zone: "Asia/Tokyo", at: "2026-03-16T10:00:00+09:00", want: "2026-03-22T09:00:00+09:00"},
		{name: "Sunday only, from Sunday night", start: "21:00", end: "09:00", days: []cdpv1alpha1.Weekday{"Sunday"}, zone: "Asia/Tokyo", at: "2026-03-22T21:00:00+09:00", want: "2026-03-29T09:00:00+09:00"},
		{name: "an allowed day begins at midnight without quiet hours around it", start: "12:00", end: "13:00", days: []cdpv1alpha1.Weekday{"Tuesday"}, zone: "Asia/Tokyo", at: "2026-03-16T18:00:00+09:00", want: "2026-03-17T00:00:00+09:00"},

		// New York springs forward on 2026-03-08: 02:00 EST becomes 03:00 EDT (07:00Z).
		{name: "New York: the night before spring forward", start: "21:00", end: "09:00", zone: "America/New_York", at: "2026-03-07T22:00:00-05:00", want: "2026-03-08T09:00:00-04:00"},
		{name: "New York: the window's end is skipped", start: "01:00", end: "02:30", zone: "America/New_York", at: "2026-03-08T01:30:00-05:00", want: "2026-03-08T03:00:00-04:00"},
		{name: "New York: the window ends where the gap starts", start: "21:00", end: "02:00", zone: "America/New_York", at: "2026-03-08T01:30:00-05:00", want: "2026-03-08T03:00:00-04:00"},
		{name: "New York: the minute before the gap", start: "02:30", end: "05:00", zone: "America/New_York", at: "2026-03-08T01:59:00-05:00", want: "2026-03-08T01:59:00-05:00"},
		{name: "New York: after the gap, inside the window", start: "02:30", end: "05:00", zone: "America/New_York", at: "2026-03-08T03:00:00-04:00", want: "2026-03-08T05:00:00-04:00"},
		{name: "New York: Sunday only, from Saturday", start: "21:00", end: "09:00", days: []cdpv1alpha1.Weekday{"Sunday"}, zone: "America/New_York", at: "2026-03-07T12:00:00-05:00", want: "2026-03-08T09:00:00-04:00"},

		// New York falls back on 2026-11-01: 02:00 EDT becomes 01:00 EST (06:00Z), and 01:00–02:00
		// happens twice.
		{name: "New York: the night of fall back", start: "21:00", end: "09:00", zone: "America/New_York", at: "2026-10-31T23:00:00-04:00", want: "2026-11-01T09:00:00-05:00"},
		{name: "New York: the first 01:10", start: "01:00", end: "01:30", zone: "America/New_York", at: "2026-11-01T01:10:00-04:00", want: "2026-11-01T01:30:00-04:00"},
		{name: "New York: the first 01:45", start: "01:00", end: "01:30", zone: "America/New_York", at: "2026-11-01T01:45:00-04:00", want: "2026-11-01T01:45:00-04:00"},
		{name: "New York: the clock falls back into the window", start: "01:00", end: "01:30", zone: "America/New_York", at: "2026-11-01T06:00:00Z", want: "2026-11-01T01:30:00-05:00"},

		// London springs forward on 2026-03-29 (01:00 GMT becomes 02:00 BST) and falls back on
		// 2026-10-25 (02:00 BST becomes 01:00 GMT).
		{name: "London: the night of spring forward", start: "21:00", end: "09:00", zone: "Europe/London", at: "2026-03-28T22:00:00Z", want: "2026-03-29T09:00:00+01:00"},
		{name: "London: the window's end is skipped", start: "00:00", end: "01:30", zone: "Europe/London", at: "2026-03-29T00:30:00Z", want: "2026-03-29T02:00:00+01:00"},
		{name: "London: the night of fall back", start: "21:00", end: "09:00", zone: "Europe/London", at: "2026-10-24T21:00:00+01:00", want: "2026-10-25T09:00:00Z"},

		// Santiago changes its clocks at midnight: on 2026-09-06 the day starts at 01:00, and on
		// 2026-04-04 the last hour of Saturday happens twice.
		{name: "Santiago: a Sunday without midnight", start: "22:00", end: "23:00", days: []cdpv1alpha1.Weekday{"Sunday"}, zone: "America/Santiago", at: "2026-09-05T12:00:00-04:00", want: "2026-09-06T01:00:00-03:00"},
		{name: "Santiago: Saturday repeats its last hour", start: "22:00", end: "23:00", days: []cdpv1alpha1.Weekday{"Sunday"}, zone: "America/Santiago", at: "2026-04-04T22:00:00-03:00", want: "2026-04-05T00:00:00-04:00"},

		// Apia moved across the date line: Thursday 2011-12-29 was followed by Saturday 2011-12-31.
		{name: "Apia: a Friday that never was", start: "21:00", end: "09:00", days: []cdpv1alpha1.Weekday{"Friday"}, zone: "Pacific/Apia", at: "2011-12-29T12:00:00-10:00", want: "2012-01-06T09:00:00+14:00"},

		// Purposes.
		{name: "transactional messages ignore marketing quiet hours", start: "21:00", end: "09:00", days: weekdaysOnly, zone: "Asia/Tokyo", at: "2026-03-21T23:00:00+09:00", purpose: transactional, want: "2026-03-21T23:00:00+09:00"},
		{name: "quiet hours that list transactional messages", start: "21:00", end: "09:00", purposes: []cdpv1alpha1.Purpose{transactional, marketing}, zone: "Asia/Tokyo", at: "2026-03-21T23:00:00+09:00", purpose: transactional, want: "2026-03-22T09:00:00+09:00"},
		{name: "quiet hours for transactional messages only", start: "21:00", end: "09:00", purposes: []cdpv1alpha1.Purpose{transactional}, zone: "Asia/Tokyo", at: "2026-03-21T23:00:00+09:00", purpose: marketing, want: "2026-03-21T23:00:00+09:00"},
		{name: "an unset purpose is marketing", start: "21:00", end: "09:00", zone: "Asia/Tokyo", at: "2026-03-21T23:00:00+09:00", purpose: "", want: "2026-03-22T09:00:00+09:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := quietPolicy(t, tt.start, tt.end, tt.days, tt.purposes...)
			loc := zone(t, tt.zone)
			at, want := instant(t, tt.at), instant(t, tt.want)
			got := p.NextAllowed(at, tt.purpose, loc)
			if !got.Equal(want) {
				t.Fatalf("NextAllowed(%s in %s) = %s, want %s", at.In(loc), tt.zone, got.In(loc), want.In(loc))
			}
			if !got.Equal(at) && got.Location() != loc {
				t.Errorf("a deferred time is in %s, want the recipient's zone %s", got.Location(), loc)
			}
		})
	}
}

func TestNextAllowedWithoutQuietHoursIsAt(t *testing.T) {
	at := instant(t, "2026-03-21T23:00:00+09:00")
	for _, spec := range []*cdpv1alpha1.DeliveryPolicySpec{nil, {}} {
		if got := compile(t, spec).NextAllowed(at, cdpv1alpha1.PurposeMarketing, zone(t, "Asia/Tokyo")); !got.Equal(at) {
			t.Errorf("NextAllowed = %s without quiet hours, want %s", got, at)
		}
	}
}

func TestNextAllowedWithoutZoneUsesTheDefault(t *testing.T) {
	p := compile(t, &cdpv1alpha1.DeliveryPolicySpec{QuietHours: &cdpv1alpha1.QuietHours{
		Start: "21:00", End: "09:00", DefaultTimeZone: "Europe/London",
	}})
	at := instant(t, "2026-01-10T22:00:00Z")
	if got, want := p.NextAllowed(at, cdpv1alpha1.PurposeMarketing, nil), instant(t, "2026-01-11T09:00:00Z"); !got.Equal(want) {
		t.Errorf("NextAllowed = %s, want 09:00 in London, %s", got, want)
	}
}

// allowedByClock is the definition NextAllowed must meet, written with the time package's own
// calendar rather than NextAllowed's arithmetic.
func allowedByClock(at time.Time, zone *time.Location, startMinute, endMinute int, days [7]bool) bool {
	local := at.In(zone)
	if !days[local.Weekday()] {
		return false
	}
	h, m, _ := local.Clock()
	minute := h*60 + m
	if startMinute < endMinute {
		return minute < startMinute || minute >= endMinute
	}
	return minute < startMinute && minute >= endMinute
}

// TestNextAllowedProperties draws windows, allowed days, zones and instants from a fixed seed and
// checks NextAllowed against the definition: the result is not before the instant, is allowed,
// and no allowed instant lies between them (every minute is checked, as well as the nanosecond
// before the result, since boundaries and clock changes fall on whole minutes). The zones include
// clock changes at midnight (Santiago), of 30 minutes (Lord Howe) and of a whole day (Apia skipped
// 2011-12-30), offsets of whole half and quarter hours (Kolkata, Kathmandu, St John's, Chatham),
// and the zones farthest east and west of UTC (Kiritimati, Pago Pago).
func TestNextAllowedProperties(t *testing.T) {
	zones := []*time.Location{time.UTC}
	for _, name := range []string{
		"Asia/Tokyo", "America/New_York", "America/Los_Angeles", "Europe/London", "America/Santiago",
		"Australia/Lord_Howe", "Asia/Kolkata", "Asia/Kathmandu", "America/St_Johns", "Pacific/Chatham",
		"Pacific/Apia", "Pacific/Kiritimati", "Pacific/Pago_Pago",
	} {
		zones = append(zones, zone(t, name))
	}
	dayNames := []cdpv1alpha1.Weekday{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
	r := rand.New(rand.NewPCG(20260316, 7))
	from, to := instant(t, "2010-01-01T00:00:00Z").Unix(), instant(t, "2032-01-01T00:00:00Z").Unix()
	const cases = 1500
	deferred := 0
	for i := range cases {
		startMinute, endMinute := r.IntN(1440), r.IntN(1440)
		if startMinute == endMinute {
			endMinute = (endMinute + 1 + r.IntN(1439)) % 1440
		}
		var days []cdpv1alpha1.Weekday
		var allowed [7]bool
		if r.IntN(3) > 0 {
			for d, name := range dayNames {
				if r.IntN(3) == 0 {
					days, allowed[d] = append(days, name), true
				}
			}
		}
		if len(days) == 0 {
			allowed = [7]bool{true, true, true, true, true, true, true}
		}
		p := quietPolicy(t, fmt.Sprintf("%02d:%02d", startMinute/60, startMinute%60), fmt.Sprintf("%02d:%02d", endMinute/60, endMinute%60), days)
		loc := zones[r.IntN(len(zones))]
		at := time.Unix(from+r.Int64N(to-from), r.Int64N(2)*r.Int64N(int64(time.Second)))
		// Half of the instants fall in the two days before a change of the zone's offset, where
		// a wall clock that skips or repeats an hour tests the arithmetic.
		if _, change := at.In(loc).ZoneBounds(); !change.IsZero() && r.IntN(2) == 0 {
			at = change.Add(-time.Duration(r.Int64N(int64(48 * time.Hour))))
		}
		got := p.NextAllowed(at, cdpv1alpha1.PurposeMarketing, loc)
		fail := func(format string, args ...any) {
			t.Fatalf("case %d, quiet %02d:%02d–%02d:%02d on %v in %s, at %s: NextAllowed = %s: %s",
				i, startMinute/60, startMinute%60, endMinute/60, endMinute%60, days, loc, at.In(loc), got.In(loc), fmt.Sprintf(format, args...))
		}
		if got.Before(at) {
			fail("before the instant")
		}
		if !allowedByClock(got, loc, startMinute, endMinute, allowed) {
			fail("not allowed")
		}
		if got.Sub(at) > 15*24*time.Hour {
			fail("more than two weeks later")
		}
		if got.Equal(at) {
			continue
		}
		deferred++
		if allowedByClock(at, loc, startMinute, endMinute, allowed) {
			fail("the instant itself is allowed")
		}
		if before := got.Add(-time.Nanosecond); !before.Before(at) && allowedByClock(before, loc, startMinute, endMinute, allowed) {
			fail("the nanosecond before is allowed too")
		}
		for m := at.Truncate(time.Minute).Add(time.Minute); m.Before(got); m = m.Add(time.Minute) {
			if allowedByClock(m, loc, startMinute, endMinute, allowed) {
				fail("%s is allowed and earlier", m.In(loc))
			}
		}
	}
	// Instants that are allowed at once prove little: many must be deferred.
	if deferred < cases/3 {
		t.Errorf("only %d of %d instants were deferred: draw more of them inside quiet hours", deferred, cases)
	}
}

func TestLocation(t *testing.T) {
	p := compile(t, &cdpv1alpha1.DeliveryPolicySpec{QuietHours: &cdpv1alpha1.QuietHours{
		Start: "21:00", End: "09:00", TimeZoneAttribute: "address.tz", DefaultTimeZone: "Europe/London",
	}})
	tests := []struct {
		name       string
		attributes map[string]any
		want       string
	}{
		{name: "an IANA name", attributes: map[string]any{"address.tz": "America/New_York"}, want: "America/New_York"},
		{name: "surrounding spaces", attributes: map[string]any{"address.tz": " Asia/Tokyo "}, want: "Asia/Tokyo"},
		{name: "UTC", attributes: map[string]any{"address.tz": "UTC"}, want: "UTC"},
		{name: "no attributes", attributes: nil, want: "Europe/London"},
		{name: "another attribute", attributes: map[string]any{"timezone": "Asia/Tokyo"}, want: "Europe/London"},
		{name: "empty", attributes: map[string]any{"address.tz": ""}, want: "Europe/London"},
		{name: "not a string", attributes: map[string]any{"address.tz": 9.0}, want: "Europe/London"},
		{name: "not a zone", attributes: map[string]any{"address.tz": "Mars/Olympus"}, want: "Europe/London"},
		{name: "a path", attributes: map[string]any{"address.tz": "../../etc/passwd"}, want: "Europe/London"},
		{name: "the machine's zone", attributes: map[string]any{"address.tz": "Local"}, want: "Europe/London"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Twice: the second answer comes from the cache and must not differ.
			for range 2 {
				if got := p.Location(tt.attributes).String(); got != tt.want {
					t.Fatalf("Location(%v) = %s, want %s", tt.attributes, got, tt.want)
				}
			}
		})
	}
}

func TestLocationDefaultsToTimezoneAndTokyo(t *testing.T) {
	p := compile(t, nil)
	if got := p.Location(map[string]any{"timezone": "Europe/London"}).String(); got != "Europe/London" {
		t.Errorf("Location read the timezone attribute as %s, want Europe/London", got)
	}
	if got := p.Location(nil).String(); got != "Asia/Tokyo" {
		t.Errorf("Location without attributes = %s, want Asia/Tokyo", got)
	}
}

// TestLocationConcurrent loads the same zones from many goroutines at once; run it with -race.
func TestLocationConcurrent(t *testing.T) {
	p := compile(t, nil)
	names := []string{"America/New_York", "Europe/London", "Asia/Kolkata", "Nowhere/Special"}
	var wg sync.WaitGroup
	errs := make(chan string, 8*len(names))
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				name := names[(g+i)%len(names)]
				got := p.Location(map[string]any{"timezone": name}).String()
				if want := map[bool]string{true: "Asia/Tokyo", false: name}[name == "Nowhere/Special"]; got != want {
					errs <- fmt.Sprintf("Location(%s) = %s, want %s", name, got, want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestLocationCacheIsBounded(t *testing.T) {
	p := compile(t, nil)
	for i := range maxCachedZones + 100 {
		p.Location(map[string]any{"timezone": fmt.Sprintf("Nowhere/Place%d", i)})
	}
	if n := p.zones.size.Load(); n != maxCachedZones {
		t.Errorf("the cache holds %d names after %d distinct ones, want the bound %d", n, maxCachedZones+100, maxCachedZones)
	}
	if got := p.Location(map[string]any{"timezone": "America/Chicago"}).String(); got != "America/Chicago" {
		t.Errorf("a full cache still loads zones: Location = %s, want America/Chicago", got)
	}
}
