package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The events RecordEngagements writes, so that a segment can select the profiles that opened a
// campaign's message or clicked a link in it: source CampaignEventSource, as the delivery
// events, with the same properties (campaign, run, step, variant, channel) and, for a click, url.
const (
	EventMessageOpened  = "message_opened"
	EventMessageClicked = "message_clicked"
)

// Engagement is what a recipient did with a message a campaign sent: opened it, or clicked a link
// in it. The message is the ledger row of Campaign, Run, ProfileID and Step.
type Engagement struct {
	Namespace, Campaign, Run, ProfileID, Step string
	// Type is EventMessageOpened or EventMessageClicked.
	Type string
	// ChannelType is the type of the channel the message went through, as the link says; the
	// ledger row's wins when the store holds the row.
	ChannelType string
	// URL is the target of a click, at most MaxEngagementURLBytes; an open has none.
	URL string
	// At is when it happened; zero means the store's clock.
	At time.Time
}

// MaxEngagementURLBytes bounds a click's URL: a click link carries its target, and the links
// package refuses links of more than 8 KiB.
const MaxEngagementURLBytes = 8 << 10

// engagementBatchRows bounds the events of one INSERT: 9 parameters each, well below SQLite's
// limit of 32766 per statement.
const engagementBatchRows = 500

const (
	sqlEngagedDelivery = `SELECT variant, channel, channel_type, address FROM deliveries
		WHERE namespace = ? AND campaign = ? AND run = ? AND profile_id = ? AND step = ?`

	sqlInsertEngagementEventsPrefix = `INSERT INTO events (namespace, source, event_id, event_type,
		occurred_at, identifier_type, identifier_value, properties, received_at) VALUES `
	engagementEventRow              = `(?, ?, ?, ?, ?, ?, ?, ?{json}, ?)`
	engagementEventColumns          = 9
	sqlInsertEngagementEventsSuffix = ` ON CONFLICT (namespace, source, event_id) DO NOTHING`
)

func (s *sqlStore) RecordEngagements(ctx context.Context, engagements []Engagement) (int, error) {
	if len(engagements) == 0 {
		return 0, nil
	}
	for i, e := range engagements {
		if err := checkEngagement(e); err != nil {
			return 0, fmt.Errorf("record engagements: engagement %d: %w", i+1, err)
		}
	}
	now := s.now()
	recorded := 0
	// An insert that skips what exists needs no lock of its own: the lock is the first
	// message's, so that the recordings of different messages never wait for each other.
	first := engagements[0]
	lock := "engagement\x00" + first.Namespace + "\x00" + first.Campaign + "\x00" + first.Run + "\x00" +
		first.ProfileID + "\x00" + first.Step
	err := s.inTransaction(ctx, lock, func(sess session) error {
		args := make([]any, 0, len(engagements)*engagementEventColumns)
		var buf []byte
		for _, e := range engagements {
			d, err := s.engagedDelivery(ctx, sess, e)
			if err != nil {
				return fmt.Errorf("read the ledger row of profile %s step %s of run %s of campaign %s/%s: %w",
					e.ProfileID, e.Step, e.Run, e.Namespace, e.Campaign, err)
			}
			at := now
			if !e.At.IsZero() {
				at = storedTime(e.At)
			}
			properties := map[string]any{
				"campaign": d.Campaign, "run": d.Run, "step": d.Step, "variant": d.Variant, "channel": d.Channel,
			}
			if e.Type == EventMessageClicked {
				properties["url"] = e.URL
			}
			if buf, err = encodeValues(buf[:0], properties); err != nil {
				return err
			}
			idType, idValue := eventIdentifier(d)
			args = append(args, e.Namespace, CampaignEventSource, engagementEventID(d, e.Type, e.URL, at), e.Type,
				s.d.timeArg(at), idType, idValue, string(buf), s.d.timeArg(now))
		}
		for part := range slices.Chunk(args, engagementBatchRows*engagementEventColumns) {
			query := s.d.sql(sqlInsertEngagementEventsPrefix +
				valuesRows(len(part)/engagementEventColumns, engagementEventRow) + sqlInsertEngagementEventsSuffix)
			n, err := sess.exec(ctx, query, part...)
			if err != nil {
				return fmt.Errorf("write events: %w", err)
			}
			recorded += int(n)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("record engagements: %w", err)
	}
	return recorded, nil
}

// engagedDelivery is the ledger row of the message e names, with the variant, channel and
// address the message went out with; when the store does not hold the row, what e says of it.
func (s *sqlStore) engagedDelivery(ctx context.Context, q querier, e Engagement) (Delivery, error) {
	d := Delivery{Namespace: e.Namespace, Campaign: e.Campaign, Run: e.Run, ProfileID: e.ProfileID, Step: e.Step,
		ChannelType: e.ChannelType}
	rs, err := q.query(ctx, s.d.sql(sqlEngagedDelivery), e.Namespace, e.Campaign, e.Run, e.ProfileID, e.Step)
	if err != nil {
		return Delivery{}, err
	}
	defer rs.Close()
	if rs.Next() {
		var channelType string
		if err := rs.Scan(&d.Variant, &d.Channel, &channelType, &d.Address); err != nil {
			return Delivery{}, err
		}
		if channelType != "" {
			d.ChannelType = channelType
		}
	}
	return d, rs.Err()
}

func checkEngagement(e Engagement) error {
	if err := checkKeys("namespace", e.Namespace, "campaign", e.Campaign, "run", e.Run,
		"profile ID", e.ProfileID, "step", e.Step); err != nil {
		return err
	}
	if err := checkText("channel type", e.ChannelType); err != nil {
		return fmt.Errorf("profile %s step %s: %w", e.ProfileID, e.Step, err)
	}
	switch e.Type {
	case EventMessageOpened:
		if e.URL != "" {
			return fmt.Errorf("profile %s step %s: an open has no URL: leave URL empty, or record a %s",
				e.ProfileID, e.Step, EventMessageClicked)
		}
	case EventMessageClicked:
		switch {
		case e.URL == "":
			return fmt.Errorf("profile %s step %s: a click needs the URL that was clicked", e.ProfileID, e.Step)
		case len(e.URL) > MaxEngagementURLBytes:
			return fmt.Errorf("%w: profile %s step %s: the URL has %d bytes, more than %d",
				ErrInvalidRow, e.ProfileID, e.Step, len(e.URL), MaxEngagementURLBytes)
		}
		if err := checkText("URL", e.URL); err != nil {
			return fmt.Errorf("profile %s step %s: %w", e.ProfileID, e.Step, err)
		}
	default:
		return fmt.Errorf("profile %s step %s: type %q is not an engagement: use %s or %s",
			e.ProfileID, e.Step, e.Type, EventMessageOpened, EventMessageClicked)
	}
	return nil
}

// engagementEventID is the ID of an open or a click of the message of d at time at: the message's
// delivery event ID, what happened, the second it happened in and, for a click, a digest of the
// URL. An open or a click of one link repeated within a second (a reload, a link scanner that
// fetches twice) is then one event, a later one another, and a click of another link of the
// message another. An ID too long to index is hashed.
func engagementEventID(d Delivery, eventType, url string, at time.Time) string {
	id := deliveryEventID(d) + "/" + strings.TrimPrefix(eventType, "message_") + "/" + strconv.FormatInt(at.Unix(), 10)
	if url != "" {
		sum := sha256.Sum256([]byte(url))
		id += "/" + hex.EncodeToString(sum[:8])
	}
	if len(id) > maxKeyBytes {
		sum := sha256.Sum256([]byte(id))
		return "sha256:" + hex.EncodeToString(sum[:])
	}
	return id
}
