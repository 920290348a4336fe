package store

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Reservation is a batch of due rows a shard's worker means to send, in the order it
// decided them, to be checked against the frequency caps and reserved in one go.
type Reservation struct {
	Namespace, Campaign, Run, Worker string
	Shard                            int
	// Since is how far back a profile's sends count: now less the longest period of the caps.
	Since time.Time
	// At is the time a reserved send counts from until its outcome is recorded.
	At    time.Time
	Sends []ReservedSend
	// Allow says whether Sends[i] may go, given its profile's sends at or after Since: those
	// every campaign has recorded or reserved, and those this reservation allowed before i.
	// It runs while the namespace's reservations wait: it must be quick and must not call the
	// store.
	Allow func(i int, sends []Sent) bool
}

// ReservedSend is one row of a Reservation, and what its message would count as.
type ReservedSend struct {
	ProfileID, Step      string
	ChannelType, Purpose string
}

const (
	// sqlReserveSendsPrefix stamps the rows allowed with the reservation's time, on PostgreSQL,
	// in one statement: the time, the rows' (profile, step) pairs, then the run and the shard.
	// The rows are joined by their key, which PostgreSQL's planner follows; SQLite's walked the
	// due rows of the whole shard for it, and runs sqlReserveSend instead.
	sqlReserveSendsPrefix = `UPDATE deliveries SET sent_at = ? FROM (VALUES `
	sqlReserveSendsSuffix = `) AS r
		WHERE deliveries.namespace = ? AND deliveries.campaign = ? AND deliveries.run = ?
			AND deliveries.profile_id = r.column1 AND deliveries.step = r.column2
			AND deliveries.shard = ? AND deliveries.state IN ('pending', 'deferred')
		RETURNING deliveries.profile_id, deliveries.step`
	reservedRow = `(?, ?)`

	// sqlReserveSend stamps one row, found by its key: ?1 the time, ?2-?6 the row's key, ?7 the
	// shard. SQLite runs it row by row (see recordOutcomesByRow): its planner joined a VALUES
	// list of hundreds of rows by walking the shard's rows.
	sqlReserveSend = `UPDATE deliveries SET sent_at = ?1
		WHERE namespace = ?2 AND campaign = ?3 AND run = ?4 AND profile_id = ?5 AND step = ?6
			AND shard = ?7 AND state IN ('pending', 'deferred')
		RETURNING profile_id, step`
)

func (s *sqlStore) ReserveSends(ctx context.Context, r Reservation) ([]bool, error) {
	if err := checkKeys("namespace", r.Namespace, "campaign", r.Campaign, "run", r.Run, "worker", r.Worker); err != nil {
		return nil, fmt.Errorf("reserve sends: %w", err)
	}
	if r.Allow == nil {
		return nil, fmt.Errorf("reserve sends of run %s of campaign %s/%s: no Allow to decide them", r.Run, r.Namespace, r.Campaign)
	}
	allowed := make([]bool, len(r.Sends))
	if len(r.Sends) == 0 {
		return allowed, nil
	}
	ids := make([]string, len(r.Sends))
	for i, rs := range r.Sends {
		ids[i] = rs.ProfileID
	}
	at := storedTime(r.At)
	// Two workers that decide for one profile at once would each count the sends before either
	// reserved its own, and both go: the reservations of a namespace take turns. A lock per
	// profile would let more run at once, but a batch holds hundreds of profiles, and PostgreSQL
	// keeps its locks in a table of a fixed size shared by the whole server. A reservation of 500
	// sends takes some 20-30 ms on PostgreSQL, which bounds a namespace's capped sends, over all
	// its workers, to about 20,000 a second. SQLite has one writer at a time already.
	err := s.inTransaction(ctx, capsLock(r.Namespace), func(sess session) error {
		if err := s.checkShardOwner(ctx, sess, r.Namespace, r.Campaign, r.Run, r.Shard, r.Worker); err != nil {
			return err
		}
		sends := map[string][]Sent{}
		if err := s.recentSends(ctx, sess, r.Namespace, ids, r.Since, sends); err != nil {
			return fmt.Errorf("read the recent sends: %w", err)
		}
		var keys []any
		index := map[[2]string]int{}
		for i, rs := range r.Sends {
			if !r.Allow(i, sends[rs.ProfileID]) {
				continue
			}
			sends[rs.ProfileID] = append(sends[rs.ProfileID], Sent{ChannelType: rs.ChannelType, Purpose: rs.Purpose, Campaign: r.Campaign, SentAt: at})
			keys = append(keys, rs.ProfileID, rs.Step)
			index[[2]string{rs.ProfileID, rs.Step}] = i
		}
		// Only rows still to send are reserved.
		if rp, ok := sess.(repeater); ok {
			update, err := rp.repeat(ctx, s.d.sql(sqlReserveSend))
			if err != nil {
				return fmt.Errorf("reserve: %w", err)
			}
			// Without the context's cancellation, as recordOutcomesByRow: the transaction's own
			// statements still honour it.
			rowCtx := context.WithoutCancel(ctx)
			for key := range slices.Chunk(keys, 2) {
				rs, err := update.query(rowCtx, s.d.timeArg(at), r.Namespace, r.Campaign, r.Run, key[0], key[1], r.Shard)
				if err != nil {
					return fmt.Errorf("reserve: %w", err)
				}
				if err := scanReserved(rs, index, allowed); err != nil {
					return fmt.Errorf("reserve: %w", err)
				}
			}
			return nil
		}
		for part := range slices.Chunk(keys, inListBatch*2) {
			query := s.d.sql(sqlReserveSendsPrefix + valuesRows(len(part)/2, reservedRow) + sqlReserveSendsSuffix)
			args := slices.Concat([]any{s.d.timeArg(at)}, part, []any{r.Namespace, r.Campaign, r.Run, r.Shard})
			rs, err := sess.query(ctx, query, args...)
			if err != nil {
				return fmt.Errorf("reserve: %w", err)
			}
			if err := scanReserved(rs, index, allowed); err != nil {
				return fmt.Errorf("reserve: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reserve sends of run %s of campaign %s/%s: %w", r.Run, r.Namespace, r.Campaign, err)
	}
	return allowed, nil
}

// scanReserved marks the rows rs returned as reserved, by their index in the reservation.
func scanReserved(rs rows, index map[[2]string]int, reserved []bool) error {
	defer rs.Close()
	for rs.Next() {
		var profileID, step string
		if err := rs.Scan(&profileID, &step); err != nil {
			return err
		}
		if i, ok := index[[2]string{profileID, step}]; ok {
			reserved[i] = true
		}
	}
	return rs.Err()
}

// capsLock is the lock the frequency-cap reservations of a namespace take turns on.
func capsLock(namespace string) string { return "frequency-caps\x00" + namespace }
