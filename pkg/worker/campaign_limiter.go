package worker

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/store"
)

// StoreLimiter paces a channel across every worker Pod and campaign through the store's token
// bucket: each worker takes tokens in small handfuls (a tenth of a second's worth), so the
// store sees a few requests per second per worker, not one per message, and no worker can hold
// more than a handful the others cannot use.
type StoreLimiter struct {
	Store     store.Store
	Namespace string
	Channel   string
	Rate      float64
	Burst     int
	Now       func() time.Time

	mu     sync.Mutex
	tokens int
}

// NewStoreLimiter returns the limiter of a channel's rate limit, or nil when it has none.
func NewStoreLimiter(st store.Store, namespace, channel string, limit *cdpv1alpha1.RateLimit) *StoreLimiter {
	if limit == nil || limit.MessagesPerSecond <= 0 {
		return nil
	}
	burst := int(math.Ceil(limit.MessagesPerSecond))
	if limit.Burst != nil {
		burst = int(*limit.Burst)
	}
	return &StoreLimiter{Store: st, Namespace: namespace, Channel: channel, Rate: limit.MessagesPerSecond, Burst: max(burst, 1), Now: time.Now}
}

// Wait takes one token, waiting for the bucket to refill when it is empty.
func (l *StoreLimiter) Wait(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.tokens == 0 {
		want := min(max(int(l.Rate/10), 1), l.Burst)
		granted, wait, err := l.Store.TakeTokens(ctx, store.TokenRequest{
			Namespace: l.Namespace, Channel: l.Channel, Rate: l.Rate, Burst: l.Burst, Want: want, Now: l.Now(),
		})
		if err != nil {
			return fmt.Errorf("take tokens of channel %s: %w", l.Channel, err)
		}
		if granted > 0 {
			l.tokens = granted
			break
		}
		timer := time.NewTimer(max(wait, time.Millisecond))
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
	}
	l.tokens--
	return nil
}
