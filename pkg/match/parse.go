package match

import (
	"math"
	"strconv"
	"time"
)

// noTime marks a value that is not a date.
const noTime = math.MinInt64

// parseDate reads a date as Unix seconds, or returns noTime. Values are parsed once per
// distinct value, so a typo ("19081309") simply fails to satisfy date levels.
func parseDate(s string) int64 {
	if len(s) == 8 && allDigits(s) { // 20060102, the common compact form, without time.Parse
		y, _ := strconv.Atoi(s[:4])
		m, _ := strconv.Atoi(s[4:6])
		d, _ := strconv.Atoi(s[6:])
		if m < 1 || m > 12 || d < 1 || d > daysIn(time.Month(m), y) {
			return noTime
		}
		return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC).Unix()
	}
	for _, layout := range []string{"2006-01-02", "2006/01/02", time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.Unix()
		}
	}
	return noTime
}

func daysIn(m time.Month, year int) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseNumber reads a number, or returns NaN.
func parseNumber(s string) float64 {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return math.NaN()
	}
	return f
}
