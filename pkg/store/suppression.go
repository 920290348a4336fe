package store

import (
	"context"
	"fmt"
	"time"
)

// SuppressionReason says why nothing more is sent to an address.
type SuppressionReason string

const (
	SuppressHardBounce      SuppressionReason = "hard-bounce"
	SuppressComplaint       SuppressionReason = "complaint"
	SuppressUnsubscribe     SuppressionReason = "unsubscribe"
	SuppressManual          SuppressionReason = "manual"
	SuppressSoftBounceLimit SuppressionReason = "soft-bounce-limit"
)

// Suppression stops messages to one address of a channel type (SMTP, SMS, LINE, Push, Webhook).
// Addresses are compared as they are: callers store and look them up normalised.
type Suppression struct {
	Namespace, ChannelType, Address string
	Reason                          SuppressionReason
	// Source says what suppressed the address, e.g. "campaign/welcome" or "unsubscribe".
	Source string
	// CreatedAt is when the address was first suppressed; zero means the store's clock.
	CreatedAt time.Time
}

// Consent is a profile's yes or no to messages of a purpose on a channel type.
type Consent struct {
	Namespace, ProfileID, ChannelType, Purpose string
	Granted                                    bool
	// RecordedAt is when the profile said it; zero means the store's clock.
	RecordedAt time.Time
	// Source says where the consent was recorded, e.g. "unsubscribe" or "crm".
	Source string
}

const (
	// A suppression that exists keeps its first time: the reason and source are the latest.
	sqlSuppress = `INSERT INTO suppressions (namespace, channel_type, address, reason, source, created_at)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (namespace, channel_type, address) DO UPDATE SET
			reason = excluded.reason, source = excluded.source`

	sqlUnsuppress = `DELETE FROM suppressions WHERE namespace = ? AND channel_type = ? AND address = ?`

	sqlSuppressedPrefix = `SELECT address, reason, source, created_at FROM suppressions
		WHERE namespace = ? AND channel_type = ? AND address IN (`

	// The latest consent wins: one recorded before the stored one is ignored, and of two
	// recorded at the same time, the refusal wins.
	sqlRecordConsent = `INSERT INTO consents (namespace, profile_id, channel_type, purpose, granted, recorded_at, source)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (namespace, profile_id, channel_type, purpose) DO UPDATE SET
			granted = excluded.granted, recorded_at = excluded.recorded_at, source = excluded.source
		WHERE excluded.recorded_at > consents.recorded_at
			OR excluded.recorded_at = consents.recorded_at AND NOT excluded.granted`

	sqlConsentsPrefix = `SELECT profile_id, channel_type, purpose, granted, recorded_at, source FROM consents
		WHERE namespace = ? AND profile_id IN (`
	sqlConsentsSuffix = `) ORDER BY profile_id, channel_type, purpose`
)

func suppressionLock(namespace, channelType, address string) string {
	return "suppression\x00" + namespace + "\x00" + channelType + "\x00" + address
}

func consentLock(c Consent) string {
	return "consent\x00" + c.Namespace + "\x00" + c.ProfileID + "\x00" + c.ChannelType + "\x00" + c.Purpose
}

func (s *sqlStore) Suppress(ctx context.Context, sup Suppression) error {
	if err := checkKeys("namespace", sup.Namespace, "channel type", sup.ChannelType, "address", sup.Address); err != nil {
		return fmt.Errorf("suppress: %w", err)
	}
	switch sup.Reason {
	case SuppressHardBounce, SuppressComplaint, SuppressUnsubscribe, SuppressManual, SuppressSoftBounceLimit:
	default:
		return fmt.Errorf("suppress %s address in %s: reason %q is not one of %s, %s, %s, %s, %s", sup.ChannelType,
			sup.Namespace, sup.Reason, SuppressHardBounce, SuppressComplaint, SuppressUnsubscribe, SuppressManual,
			SuppressSoftBounceLimit)
	}
	if err := checkText("source", sup.Source); err != nil {
		return fmt.Errorf("suppress %s address in %s: %w", sup.ChannelType, sup.Namespace, err)
	}
	created := s.now()
	if !sup.CreatedAt.IsZero() {
		created = storedTime(sup.CreatedAt)
	}
	err := s.inTransaction(ctx, suppressionLock(sup.Namespace, sup.ChannelType, sup.Address), func(sess session) error {
		_, err := sess.exec(ctx, s.d.sql(sqlSuppress), sup.Namespace, sup.ChannelType, sup.Address,
			string(sup.Reason), sup.Source, s.d.timeArg(created))
		return err
	})
	if err != nil {
		// The address stays out of the message: it is personal data.
		return fmt.Errorf("suppress %s address in %s: %w", sup.ChannelType, sup.Namespace, err)
	}
	return nil
}

func (s *sqlStore) Unsuppress(ctx context.Context, namespace, channelType, address string) error {
	if err := checkKeys("namespace", namespace, "channel type", channelType, "address", address); err != nil {
		return fmt.Errorf("unsuppress: %w", err)
	}
	err := s.inTransaction(ctx, suppressionLock(namespace, channelType, address), func(sess session) error {
		_, err := sess.exec(ctx, s.d.sql(sqlUnsuppress), namespace, channelType, address)
		return err
	})
	if err != nil {
		return fmt.Errorf("unsuppress %s address in %s: %w", channelType, namespace, err)
	}
	return nil
}

func (s *sqlStore) Suppressed(ctx context.Context, namespace, channelType string, addresses []string) (map[string]Suppression, error) {
	out := map[string]Suppression{}
	for batch := range distinctBatches(addresses) {
		args := make([]any, 0, 2+len(batch))
		args = append(args, namespace, channelType)
		for _, a := range batch {
			args = append(args, a)
		}
		if err := s.suppressed(ctx, s.d.sql(sqlSuppressedPrefix+inList(len(batch))+")"), args, namespace, channelType, out); err != nil {
			return nil, fmt.Errorf("look up suppressed %s addresses in %s: %w", channelType, namespace, err)
		}
	}
	return out, nil
}

func (s *sqlStore) suppressed(ctx context.Context, query string, args []any, namespace, channelType string, out map[string]Suppression) error {
	rs, err := s.b.read().query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rs.Close()
	for rs.Next() {
		sup := Suppression{Namespace: namespace, ChannelType: channelType}
		var reason string
		var created nullTime
		if err := rs.Scan(&sup.Address, &reason, &sup.Source, &created); err != nil {
			return err
		}
		sup.Reason, sup.CreatedAt = SuppressionReason(reason), created.Time
		out[sup.Address] = sup
	}
	return rs.Err()
}

func (s *sqlStore) RecordConsent(ctx context.Context, c Consent) error {
	if err := checkKeys("namespace", c.Namespace, "profile ID", c.ProfileID, "channel type", c.ChannelType,
		"purpose", c.Purpose); err != nil {
		return fmt.Errorf("record consent: %w", err)
	}
	if err := checkText("source", c.Source); err != nil {
		return fmt.Errorf("record consent of %s/%s: %w", c.Namespace, c.ProfileID, err)
	}
	recorded := s.now()
	if !c.RecordedAt.IsZero() {
		recorded = storedTime(c.RecordedAt)
	}
	err := s.inTransaction(ctx, consentLock(c), func(sess session) error {
		_, err := sess.exec(ctx, s.d.sql(sqlRecordConsent), c.Namespace, c.ProfileID, c.ChannelType, c.Purpose,
			c.Granted, s.d.timeArg(recorded), c.Source)
		return err
	})
	if err != nil {
		return fmt.Errorf("record consent of %s/%s to %s %s: %w", c.Namespace, c.ProfileID, c.Purpose, c.ChannelType, err)
	}
	return nil
}

func (s *sqlStore) Consents(ctx context.Context, namespace string, profileIDs []string) (map[string][]Consent, error) {
	out := map[string][]Consent{}
	for ids := range distinctBatches(profileIDs) {
		args := make([]any, 0, 1+len(ids))
		args = append(args, namespace)
		for _, id := range ids {
			args = append(args, id)
		}
		if err := s.consents(ctx, s.d.sql(sqlConsentsPrefix+inList(len(ids))+sqlConsentsSuffix), args, namespace, out); err != nil {
			return nil, fmt.Errorf("read consents in %s: %w", namespace, err)
		}
	}
	return out, nil
}

func (s *sqlStore) consents(ctx context.Context, query string, args []any, namespace string, out map[string][]Consent) error {
	rs, err := s.b.read().query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rs.Close()
	for rs.Next() {
		c := Consent{Namespace: namespace}
		var recorded nullTime
		if err := rs.Scan(&c.ProfileID, &c.ChannelType, &c.Purpose, &c.Granted, &recorded, &c.Source); err != nil {
			return err
		}
		c.RecordedAt = recorded.Time
		out[c.ProfileID] = append(out[c.ProfileID], c)
	}
	return rs.Err()
}
