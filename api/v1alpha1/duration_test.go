package v1alpha1

import (
	"strings"
	"testing"
	"time"
)

func TestDurationParse(t *testing.T) {
	for _, tc := range []struct {
		in      Duration
		want    time.Duration
		wantErr string
	}{
		{in: "30m", want: 30 * time.Minute},
		{in: "24h", want: 24 * time.Hour},
		{in: "90d", want: 90 * 24 * time.Hour},
		{in: "2w", want: 14 * 24 * time.Hour},
		{in: "73000d", want: 73000 * 24 * time.Hour},
		{in: "73001d", wantErr: "longer than 200 years"},
		{in: "0d", wantErr: "is not a duration"},
		{in: "1.5h", wantErr: "is not a duration"},
		{in: "90", wantErr: "is not a duration"},
		{in: "", wantErr: "is not a duration"},
	} {
		got, err := tc.in.Parse()
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Parse(%q) = %v, %v; want an error containing %q", tc.in, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Parse(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}
