package store

import (
	"context"
	"fmt"
	"math"
	"time"
)

// TokenRequest asks a channel's token bucket for permission to send.
type TokenRequest struct {
	Namespace, Channel string
	// Rate is how many tokens a second the bucket gains, Burst how many it holds at most. A new
	// bucket starts full.
	Rate  float64
	Burst int
	// Want is how many tokens the caller would like, at least 1.
	Want int
	// Now is the caller's time; zero means the store's clock. Times of several processes may
	// disagree a little: a bucket never refills backwards.
	Now time.Time
}

// tokenBucket is a channel's bucket as the table keeps it.
type tokenBucket struct {
	tokens     float64
	refilledAt time.Time
}

// tokenEpsilon absorbs the rounding of tokens that refills add up, so that a bucket which holds
// 0.9999999999 of what makes a whole token after many small refills still grants it.
const tokenEpsilon = 1e-9

// takeTokens refills a bucket up to r.Now and takes what it can of r.Want. It returns the bucket
// after, the tokens granted, and, when none could be granted, how long until one is there.
// A bucket that does not exist yet (found false) starts full.
func takeTokens(b tokenBucket, found bool, r TokenRequest) (after tokenBucket, granted int, wait time.Duration) {
	burst := float64(r.Burst)
	if !found {
		b = tokenBucket{tokens: burst, refilledAt: r.Now}
	}
	if elapsed := r.Now.Sub(b.refilledAt); elapsed > 0 {
		b.tokens += elapsed.Seconds() * r.Rate
		b.refilledAt = r.Now
	}
	// A lower burst than the bucket was filled with applies at once.
	b.tokens = min(b.tokens, burst)
	whole := math.Floor(b.tokens + tokenEpsilon)
	granted = int(min(whole, float64(r.Want)))
	b.tokens = max(b.tokens-float64(granted), 0)
	if granted == 0 {
		wait = time.Duration(math.Ceil((1 - b.tokens) / r.Rate * float64(time.Second)))
	}
	return b, granted, wait
}

const (
	sqlGetBucket = `SELECT tokens, refilled_at FROM channel_buckets WHERE namespace = ? AND channel = ?`

	sqlPutBucket = `INSERT INTO channel_buckets (namespace, channel, tokens, refilled_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (namespace, channel) DO UPDATE SET
			tokens = excluded.tokens, refilled_at = excluded.refilled_at`
)

func bucketLock(namespace, channel string) string {
	return "channel-bucket\x00" + namespace + "\x00" + channel
}

func (s *sqlStore) TakeTokens(ctx context.Context, r TokenRequest) (granted int, wait time.Duration, err error) {
	if err := checkKeys("namespace", r.Namespace, "channel", r.Channel); err != nil {
		return 0, 0, fmt.Errorf("take tokens: %w", err)
	}
	switch {
	case !(r.Rate > 0) || math.IsInf(r.Rate, 0):
		return 0, 0, fmt.Errorf("take tokens of channel %s/%s: rate %v is not a positive number of messages a second",
			r.Namespace, r.Channel, r.Rate)
	case r.Burst < 1:
		return 0, 0, fmt.Errorf("take tokens of channel %s/%s: burst %d holds no token: use 1 or more", r.Namespace, r.Channel, r.Burst)
	case r.Want < 1:
		return 0, 0, fmt.Errorf("take tokens of channel %s/%s: want %d asks for nothing: ask for 1 or more", r.Namespace, r.Channel, r.Want)
	}
	if r.Now.IsZero() {
		r.Now = s.clock.Now()
	}
	r.Now = storedTime(r.Now)
	// The bucket's lock makes reading and writing it one step for every process: SQLite's one
	// writer, PostgreSQL's lock of the channel.
	err = s.inTransaction(ctx, bucketLock(r.Namespace, r.Channel), func(sess session) error {
		var b tokenBucket
		var refilled nullTime
		if err := queryRowOn(ctx, sess, s.d.sql(sqlGetBucket), []any{r.Namespace, r.Channel}, &b.tokens, &refilled); err != nil {
			return fmt.Errorf("read the bucket: %w", err)
		}
		b.refilledAt = refilled.Time
		var after tokenBucket
		after, granted, wait = takeTokens(b, refilled.Valid, r)
		if _, err := sess.exec(ctx, s.d.sql(sqlPutBucket), r.Namespace, r.Channel, after.tokens,
			s.d.timeArg(after.refilledAt)); err != nil {
			return fmt.Errorf("write the bucket: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("take tokens of channel %s/%s: %w", r.Namespace, r.Channel, err)
	}
	return granted, wait, nil
}
