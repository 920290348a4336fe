// Package schedule reads the cron schedules and time zones of Kizuna resources and works out when
// scheduled work is due next.
package schedule

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// parser reads the five standard fields and descriptors such as @daily and @every 1h.
var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Schedule is a parsed cron expression in a time zone.
type Schedule struct {
	cron     cron.Schedule
	location *time.Location
}

// Parse reads a cron expression and an IANA time-zone name ("" means UTC). The time zone is given
// apart, so a CRON_TZ= or TZ= prefix in the expression is refused rather than silently winning.
func Parse(expression, timeZone string) (*Schedule, error) {
	loc, err := LoadLocation(timeZone)
	if err != nil {
		return nil, err
	}
	trimmed := strings.TrimSpace(expression)
	if strings.HasPrefix(trimmed, "CRON_TZ=") || strings.HasPrefix(trimmed, "TZ=") {
		return nil, fmt.Errorf("cron %q: set the time zone in timeZone, not in the expression", expression)
	}
	sched, err := parser.Parse(trimmed)
	if err != nil {
		return nil, fmt.Errorf("cron %q: %w", expression, err)
	}
	return &Schedule{cron: sched, location: loc}, nil
}

// Next returns the first activation strictly after t.
func (s *Schedule) Next(t time.Time) time.Time {
	return s.cron.Next(t.In(s.location))
}

// LoadLocation loads an IANA time zone, "" meaning UTC, with an error that names the zone.
func LoadLocation(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, nil
	}
	// time.LoadLocation accepts "Local", which would make a schedule depend on the pod's zone.
	if name == "Local" {
		return nil, fmt.Errorf("time zone %q: name an IANA zone such as Asia/Tokyo", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("time zone %q is not a known IANA zone name (for example Asia/Tokyo or UTC)", name)
	}
	return loc, nil
}
