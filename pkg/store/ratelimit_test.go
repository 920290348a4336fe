package store

import (
	"math"
	"testing"
	"time"
)

func TestTakeTokens(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	req := func(rate float64, burst, want int, at time.Duration) TokenRequest {
		return TokenRequest{Namespace: "ns", Channel: "mail", Rate: rate, Burst: burst, Want: want, Now: t0.Add(at)}
	}
	tests := []struct {
		name        string
		bucket      tokenBucket
		found       bool
		req         TokenRequest
		granted     int
		wait        time.Duration
		tokensAfter float64
		refilledAt  time.Time
	}{
		{"a new bucket starts full", tokenBucket{}, false, req(2, 10, 4, 0), 4, 0, 6, t0},
		{"a new bucket grants no more than its burst", tokenBucket{}, false, req(2, 10, 50, 0), 10, 0, 0, t0},
		{"an empty bucket says when a token is there", tokenBucket{0, t0}, true, req(2, 10, 1, 0), 0, 500 * time.Millisecond, 0, t0},
		{"half a token is not a token", tokenBucket{0, t0}, true, req(2, 10, 1, 250*time.Millisecond), 0, 250 * time.Millisecond, 0.5, t0.Add(250 * time.Millisecond)},
		{"a refill grants whole tokens and keeps the rest", tokenBucket{0.5, t0}, true, req(2, 10, 5, 1000*time.Millisecond), 2, 0, 0.5, t0.Add(time.Second)},
		{"a long idle bucket holds its burst, no more", tokenBucket{3, t0}, true, req(2, 10, 50, time.Hour), 10, 0, 0, t0.Add(time.Hour)},
		{"a caller whose clock is behind gets no refill and moves nothing back", tokenBucket{0.25, t0}, true, req(2, 10, 1, -time.Second), 0, 375 * time.Millisecond, 0.25, t0},
		{"a burst lowered since applies at once", tokenBucket{8, t0}, true, req(2, 3, 10, 0), 3, 0, 0, t0},
		{"refills that add up to a token grant it despite rounding", tokenBucket{0.9999999999, t0}, true, req(0.1, 1, 1, 0), 1, 0, 0, t0},
		{"a slow rate waits long", tokenBucket{0, t0}, true, req(1.0/60, 1, 1, 0), 0, time.Minute, 0, t0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			after, granted, wait := takeTokens(tc.bucket, tc.found, tc.req)
			if granted != tc.granted || wait != tc.wait {
				t.Errorf("granted %d, wait %s; want %d, %s", granted, wait, tc.granted, tc.wait)
			}
			if math.Abs(after.tokens-tc.tokensAfter) > 1e-9 || !after.refilledAt.Equal(tc.refilledAt) {
				t.Errorf("bucket after = %+v, want %v tokens refilled at %v", after, tc.tokensAfter, tc.refilledAt)
			}
		})
	}
}
