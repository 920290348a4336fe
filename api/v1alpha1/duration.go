package v1alpha1

import (
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// durationPattern is Duration's schema pattern.
var durationPattern = regexp.MustCompile(`^([1-9][0-9]{0,5})(m|h|d|w)$`)

// maxDuration keeps a time minus a duration far from time.Duration's limit of 292 years.
const maxDuration = 200 * 365 * 24 * time.Hour

// Parse returns the length of time the Duration stands for: a whole number of minutes, hours,
// days (24 hours) or weeks.
func (d Duration) Parse() (time.Duration, error) {
	m := durationPattern.FindStringSubmatch(string(d))
	if m == nil {
		shown := string(d)
		if r := []rune(shown); len(r) > 80 {
			shown = string(r[:80]) + "…"
		}
		return 0, fmt.Errorf("%q is not a duration: write a whole number and a unit, m, h, d or w (e.g. 30d)", shown)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	unit := map[string]time.Duration{"m": time.Minute, "h": time.Hour, "d": 24 * time.Hour, "w": 7 * 24 * time.Hour}[m[2]]
	if n > int64(maxDuration/unit) {
		return 0, fmt.Errorf("%q is longer than 200 years", string(d))
	}
	return time.Duration(n) * unit, nil
}
