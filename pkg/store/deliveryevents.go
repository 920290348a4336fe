package store

import (
	"context"
	"fmt"
)

// flushEventRows bounds one transaction of FlushDeliveryEvents, so that a backlog left by a
// crashed worker moves in steps of a bounded size.
var flushEventRows = 10_000

// sqlPendingEventsThrough is the last id of the next batch of pending delivery events, 0 for none.
const sqlPendingEventsThrough = `SELECT coalesce(max(id), 0) FROM
	(SELECT id FROM delivery_events_pending ORDER BY id LIMIT ?) AS batch`

func (s *sqlStore) FlushDeliveryEvents(ctx context.Context) (int64, error) {
	var moved int64
	for {
		var through, n int64
		err := s.inTransaction(ctx, "delivery-events", func(sess session) error {
			if err := queryRowOn(ctx, sess, s.d.sql(sqlPendingEventsThrough), []any{flushEventRows}, &through); err != nil {
				return err
			}
			if through == 0 {
				return nil
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
		if through == 0 {
			return moved, nil
		}
		moved += n
	}
}
