package store

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"
)

// IdentityLink takes an identifier, as events carry it, to the profile of a resolution it
// belongs to, so that a segment's query joins events to profiles without normalising in SQL.
type IdentityLink struct {
	Type, Value string
	ProfileID   string
}

// IdentityLinkState is what a resolution's identity links were built from.
type IdentityLinkState struct {
	// Generation is the resolution generation the links map to.
	Generation int64
	// ReceivedThrough: the identifiers of events received up to this time (inclusive) are
	// linked.
	ReceivedThrough time.Time
}

// IdentityLinkUpdate describes one WriteIdentityLinks.
type IdentityLinkUpdate struct {
	Namespace, Resolution string
	// Generation and ReceivedThrough become the IdentityLinkState.
	Generation      int64
	ReceivedThrough time.Time
	// Replace deletes the resolution's links before writing: a rebuild for a new generation.
	Replace bool
}

const (
	sqlLatestEventReceipt = `SELECT max(received_at) FROM events WHERE namespace = ?`

	sqlEventIdentifiers = `SELECT DISTINCT identifier_type, identifier_value FROM events
		WHERE namespace = ? ORDER BY identifier_type, identifier_value`

	sqlEventIdentifiersAfter = `SELECT DISTINCT identifier_type, identifier_value FROM events
		WHERE namespace = ? AND received_at > ? ORDER BY identifier_type, identifier_value`

	sqlGetIdentityLinkState = `SELECT generation, received_through FROM identity_link_state
		WHERE namespace = ? AND resolution = ?`

	sqlPutIdentityLinkState = `INSERT INTO identity_link_state (namespace, resolution, generation, received_through)
		VALUES (?, ?, ?, ?)
		ON CONFLICT (namespace, resolution) DO UPDATE SET
			generation = excluded.generation, received_through = excluded.received_through`

	identityLinkColumns = `namespace, resolution, identifier_type, identifier_value, profile_id`
)

func identityLinksLock(namespace, resolution string) string {
	return "identity-links\x00" + namespace + "\x00" + resolution
}

func (s *sqlStore) Dialect() string { return s.d.name }

func (s *sqlStore) LatestEventReceipt(ctx context.Context, namespace string) (time.Time, error) {
	var latest nullTime
	if err := s.queryRow(ctx, s.d.sql(sqlLatestEventReceipt), []any{namespace}, &latest); err != nil {
		return time.Time{}, fmt.Errorf("read the latest event receipt of %s: %w", namespace, err)
	}
	return latest.Time, nil
}

func (s *sqlStore) EventIdentifiers(ctx context.Context, namespace string, receivedAfter time.Time, fn func(idType, value string) error) error {
	query, args := s.d.sql(sqlEventIdentifiers), []any{namespace}
	if !receivedAfter.IsZero() {
		query, args = s.d.sql(sqlEventIdentifiersAfter), []any{namespace, s.d.timeArg(storedTime(receivedAfter))}
	}
	rs, err := s.b.read().query(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("read the event identifiers of %s: %w", namespace, err)
	}
	defer rs.Close()
	for rs.Next() {
		var idType, value string
		if err := rs.Scan(&idType, &value); err != nil {
			return fmt.Errorf("read the event identifiers of %s: %w", namespace, err)
		}
		if err := fn(idType, value); err != nil {
			return err
		}
	}
	if err := rs.Err(); err != nil {
		return fmt.Errorf("read the event identifiers of %s: %w", namespace, err)
	}
	return nil
}

func (s *sqlStore) IdentityLinkState(ctx context.Context, namespace, resolution string) (IdentityLinkState, error) {
	var st IdentityLinkState
	var through nullTime
	if err := s.queryRow(ctx, s.d.sql(sqlGetIdentityLinkState), []any{namespace, resolution},
		&st.Generation, &through); err != nil {
		return IdentityLinkState{}, fmt.Errorf("read the identity link state of %s/%s: %w", namespace, resolution, err)
	}
	st.ReceivedThrough = through.Time
	return st, nil
}

func (s *sqlStore) WriteIdentityLinks(ctx context.Context, u IdentityLinkUpdate, links iter.Seq[IdentityLink]) error {
	for _, f := range []struct{ what, value string }{{"namespace", u.Namespace}, {"resolution", u.Resolution}} {
		if err := checkKey(f.what, f.value); err != nil {
			return fmt.Errorf("write identity links: %w", err)
		}
	}
	if u.Generation < 0 {
		return fmt.Errorf("write identity links of %s/%s: generation %d is negative", u.Namespace, u.Resolution, u.Generation)
	}
	if err := s.writeIdentityLinks(ctx, u, links); err != nil {
		return fmt.Errorf("write identity links of %s/%s: %w", u.Namespace, u.Resolution, err)
	}
	return nil
}

func (s *sqlStore) writeIdentityLinks(ctx context.Context, u IdentityLinkUpdate, links iter.Seq[IdentityLink]) error {
	sess, err := s.b.session(ctx)
	if err != nil {
		return err
	}
	defer sess.release()
	if err := sess.begin(ctx, identityLinksLock(u.Namespace, u.Resolution)); err != nil {
		return err
	}
	if err := s.upsertIdentityLinks(ctx, sess, u, links); err != nil {
		return errors.Join(err, sess.rollback(ctx))
	}
	if err := sess.commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if u.Replace && s.d.analyzeAfterLoad != "" {
		// Segments join the links next: see analyzeAfterLoad.
		_, _ = sess.exec(ctx, fmt.Sprintf(s.d.analyzeAfterLoad, "identity_links"))
	}
	return nil
}

func (s *sqlStore) upsertIdentityLinks(ctx context.Context, sess session, u IdentityLinkUpdate, links iter.Seq[IdentityLink]) error {
	lw, err := sess.identityLinks(ctx, u.Namespace, u.Resolution, u.Replace)
	if err != nil {
		return err
	}
	batch := make([]IdentityLink, 0, sess.batchRows())
	flush := func() error {
		if err := lw.put(ctx, batch); err != nil {
			return fmt.Errorf("write links: %w", err)
		}
		clear(batch)
		batch = batch[:0]
		return nil
	}
	var n int64
	for l := range links {
		n++
		if err = checkLink(l); err != nil {
			err = fmt.Errorf("link %d: %w", n, err)
			break
		}
		if batch = append(batch, l); len(batch) == cap(batch) {
			if err = flush(); err != nil {
				break
			}
		}
	}
	if err == nil && len(batch) > 0 {
		err = flush()
	}
	if err != nil {
		return err
	}
	if err := lw.finish(ctx); err != nil {
		return err
	}
	if _, err := sess.exec(ctx, s.d.sql(sqlPutIdentityLinkState), u.Namespace, u.Resolution, u.Generation,
		s.d.timeArg(storedTime(u.ReceivedThrough))); err != nil {
		return fmt.Errorf("record the link state: %w", err)
	}
	return nil
}

func checkLink(l IdentityLink) error {
	for _, f := range []struct{ what, value string }{
		{"identifier type", l.Type}, {"identifier value", l.Value}, {"profile ID", l.ProfileID},
	} {
		if err := checkKey(f.what, f.value); err != nil {
			return err
		}
	}
	return nil
}
