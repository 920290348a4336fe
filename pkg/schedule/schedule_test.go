package schedule

import (
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, cron, zone string
		wantErr          string
	}{
		{name: "five fields", cron: "0 9 * * 1-5", zone: "Asia/Tokyo"},
		{name: "descriptor", cron: "@daily"},
		{name: "every", cron: "@every 90m", zone: "UTC"},
		{name: "bad minute", cron: "61 9 * * *", wantErr: "cron \"61 9 * * *\""},
		{name: "six fields", cron: "0 0 9 * * *", wantErr: "expected exactly 5 fields"},
		{name: "zone in expression", cron: "CRON_TZ=Asia/Tokyo 0 9 * * *", wantErr: "set the time zone in timeZone"},
		{name: "unknown zone", cron: "@daily", zone: "Asia/Kizuna", wantErr: "not a known IANA zone"},
		{name: "local zone", cron: "@daily", zone: "Local", wantErr: "name an IANA zone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.cron, tt.zone)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Parse(%q, %q) = %v, want no error", tt.cron, tt.zone, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Parse(%q, %q) = %v, want an error containing %q", tt.cron, tt.zone, err, tt.wantErr)
			}
		})
	}
}

func TestNextUsesTheScheduleTimeZone(t *testing.T) {
	s, err := Parse("0 9 * * *", "Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	// 2026-11-23 01:00 UTC is 10:00 in Tokyo, so the next 9:00 in Tokyo is the next day.
	got := s.Next(time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC)).UTC()
	want := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	if !got.Equal(want) {
		t.Fatalf("Next = %v, want %v", got, want)
	}
}
