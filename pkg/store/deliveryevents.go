package store

import (
	"context"
	"fmt"
)

// flushEventRows bounds one transaction of FlushDeliveryEvents: the outcomes recorded meanwhile
// wait for one step at most (on SQLite, one writer at a time), and a backlog left by a crashed
// worker moves in steps of a bounded size.
var flushEventRows = 1000

const (
	// sqlLastPendingEvent is the id of the latest pending delivery event, 0 for none.
	sqlLastPendingEvent = `SELECT coalesce(max(id), 0) FROM delivery_events_pending`
	// sqlPendingEventsThrough is the last id of the next step of pending delivery events: the
	// first of them, as many as the second parameter, up to the id of the first.
	sqlPendingEventsThrough = `SELECT coalesce(max(id), 0) FROM
		(SELECT id FROM delivery_events_pending WHERE id <= ? ORDER BY id LIMIT ?) AS step`
)

func (s *sqlStore) FlushDeliveryEvents(ctx context.Context) (int64, error) {
	// The events pending now, and not those that keep coming while they move: a flush of many
	// workers' events ends however fast they record outcomes.
	var last int64
	if err := s.b.readOnly(ctx, func(q querier) error {
		return queryRowOn(ctx, q, sqlLastPendingEvent, nil, &last)
	}); err != nil {
		return 0, fmt.Errorf("flush the delivery events: %w", err)
	}
	var moved int64
	for last > 0 {
		var through, n int64
		err := s.inTransaction(ctx, "delivery-events", func(sess session) error {
			if err := queryRowOn(ctx, sess, s.d.sql(sqlPendingEventsThrough), []any{last, flushEventRows}, &through); err != nil {
				return err
			}
			if through == 0 {
				return nil // another flush moved them
			}
			received := s.d.timeArg(storedTime(s.clock.Now()))
			for i, query := range s.d.movePendingEvents {
				written, err := sess.exec(ctx, query, received, through)
				if err != nil {
					return err
				}
				if i == 0 {
					n = written
				}
			}
			return nil
		})
		if err != nil {
			return moved, fmt.Errorf("flush the delivery events: %w", err)
		}
		if through == 0 || through >= last {
			return moved + n, nil
		}
		moved += n
	}
	return moved, nil
}
