package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/delivery"
	"github.com/kizuna-dev/kizuna/pkg/delivery/links"
	"github.com/kizuna-dev/kizuna/pkg/delivery/policy"
	"github.com/kizuna-dev/kizuna/pkg/delivery/template"
	"github.com/kizuna-dev/kizuna/pkg/store"
)

// ChannelSender is a Channel ready to send from this worker.
type ChannelSender struct {
	Name   string
	Type   cdpv1alpha1.ChannelType
	Sender delivery.Sender
	// Concurrency is how many messages this worker has in flight on the channel at once.
	Concurrency int
	// Limiter paces the channel across every worker and campaign; nil sends as fast as the
	// concurrency allows.
	Limiter Limiter
}

// Limiter waits until the channel may send one more message.
type Limiter interface {
	Wait(ctx context.Context) error
}

// Deliverer sends one shard of a planned campaign run: it claims ledger rows, decides each
// recipient's fate under the delivery policy, sends, and records every outcome. Everything it
// does is recorded in the ledger before it moves on, so a worker killed at any point and started
// again continues where it stopped; the only message that can go twice is one whose provider
// accepted it in the instant before the kill, at most one per connection (RFC 1047's window).
type Deliverer struct {
	Store      store.Store
	Campaign   *cdpv1alpha1.Campaign
	Resolution string
	Channels   map[string]*ChannelSender
	Policy     *policy.Policy
	// Links signs the recipients' unsubscribe and tracking links; nil leaves them out.
	Links *links.Signer
	// Suppress, from the policy, says which failures add the address to the suppression list.
	SuppressHardBounces bool

	Run    string
	Shard  int
	Worker string
	Now    func() time.Time
	Log    logr.Logger

	// BatchSize rows are claimed at a time; Lease is how long a claim holds before another
	// worker may take the rows over; MaxAttempts bounds the sends of one row.
	BatchSize   int
	Lease       time.Duration
	MaxAttempts int
}

// ErrUnauthorized stops a run: a channel refused its credentials, so every recipient would fail
// the same way. The rows in flight go back to pending, to be sent once the Secret is fixed.
type ErrUnauthorized struct {
	Channel string
	Err     error
}

func (e *ErrUnauthorized) Error() string {
	return fmt.Sprintf("channel %s refused its credentials: %v; fix the channel's Secret, and the run continues where it stopped", e.Channel, e.Err)
}

func (e *ErrUnauthorized) Unwrap() error { return e.Err }

// DeliverySummary is what one Deliver call did.
type DeliverySummary struct {
	Claimed, Sent, Failed, Retried, Suppressed, Capped, Deferred int64
}

// Deliver works through the shard's rows that are due until none is left.
func (d *Deliverer) Deliver(ctx context.Context) (DeliverySummary, error) {
	d.setDefaults()
	templates, err := parseStepTemplates(d.Campaign)
	if err != nil {
		return DeliverySummary{}, err
	}
	ns := d.Campaign.Namespace
	if _, err := d.Store.ReleaseShard(ctx, ns, d.Campaign.Name, d.Run, d.Shard); err != nil {
		return DeliverySummary{}, fmt.Errorf("release the rows this worker held before a restart: %w", err)
	}
	w := newOutcomeWriter(d.Store)
	defer w.close()
	var summary DeliverySummary
	for {
		if err := ctx.Err(); err != nil {
			return summary, err
		}
		batch, err := d.Store.ClaimDeliveries(ctx, store.Claim{
			Namespace: ns, Campaign: d.Campaign.Name, Run: d.Run, Shard: d.Shard,
			Worker: d.Worker, Limit: d.BatchSize, Lease: d.Lease, Now: d.Now(),
		})
		if err != nil {
			return summary, fmt.Errorf("claim deliveries: %w", err)
		}
		if len(batch) == 0 {
			return summary, w.flush()
		}
		summary.Claimed += int64(len(batch))
		if err := d.deliverBatch(ctx, batch, templates, w, &summary); err != nil {
			return summary, errors.Join(err, w.flush())
		}
	}
}

func (d *Deliverer) setDefaults() {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.BatchSize <= 0 {
		d.BatchSize = 500
	}
	if d.Lease <= 0 {
		d.Lease = 5 * time.Minute
	}
	if d.MaxAttempts <= 0 {
		d.MaxAttempts = 5
	}
	if d.Policy == nil {
		d.Policy, _ = policy.Compile(nil)
	}
}

// recipient is what a batch knows about one profile.
type recipient struct {
	profile  store.Profile
	found    bool
	consents []policy.Consent
	sends    []policy.Send
}

// deliverBatch decides and sends one claimed batch.
func (d *Deliverer) deliverBatch(ctx context.Context, batch []store.Delivery, templates stepTemplates,
	w *outcomeWriter, summary *DeliverySummary) error {
	people, err := d.loadRecipients(ctx, batch)
	if err != nil {
		return err
	}
	suppressed, err := d.loadSuppressions(ctx, batch, people)
	if err != nil {
		return err
	}
	now := d.Now()
	var sends []*pendingSend
	for i := range batch {
		row := &batch[i]
		out := d.outcome(row, now)
		p := people[row.ProfileID]
		choice, reason := d.choose(row, p, suppressed, templates)
		if choice == nil {
			out.State, out.Error = store.DeliverySuppressed, reason
			summary.Suppressed++
			w.add(out, nil)
			continue
		}
		out.Channel, out.ChannelType, out.Address = choice.channel.Name, string(choice.channel.Type), choice.address
		purpose := cdpv1alpha1.Purpose(row.Purpose)
		zone := d.Policy.Location(p.profile.Attributes)
		if at := d.Policy.NextAllowed(now, purpose, zone); at.After(now) {
			out.State, out.NotBefore, out.Error = store.DeliveryDeferred, at, "quiet hours"
			summary.Deferred++
			w.add(out, nil)
			continue
		}
		if capName := d.Policy.Capped(p.sends, choice.channel.Type, purpose, now); capName != "" {
			out.State, out.Error = store.DeliveryCapped, "frequency cap "+capName
			summary.Capped++
			w.add(out, nil)
			continue
		}
		// A second message to the same person in this batch counts against the caps too.
		p.sends = append(p.sends, policy.Send{ChannelType: choice.channel.Type, Purpose: purpose, At: now})
		msg, err := d.message(row, p, choice, zone)
		if err != nil {
			out.State, out.Error = store.DeliveryFailed, err.Error()
			summary.Failed++
			w.add(out, nil)
			continue
		}
		out.MessageID = msg.ID
		sends = append(sends, &pendingSend{row: row, out: out, msg: msg, channel: choice.channel})
	}
	return d.send(ctx, sends, w, summary)
}

// choice is the message of a step that reaches a recipient, and through which channel.
type choice struct {
	channel  *ChannelSender
	address  string
	template *template.Message
}

// choose returns the first message of the row's step that can reach the recipient: its
// channel has the recipient's address, the address is not suppressed, the recipient consents,
// and the profile has the attributes the template requires. Otherwise it says why none can.
func (d *Deliverer) choose(row *store.Delivery, p *recipient, suppressed map[string]map[string]store.Suppression,
	templates stepTemplates) (*choice, string) {
	if !p.found {
		return nil, "the profile no longer exists"
	}
	step := slices.IndexFunc(d.Campaign.Spec.Steps, func(s cdpv1alpha1.CampaignStep) bool { return s.Name == row.Step })
	if step < 0 {
		return nil, fmt.Sprintf("step %s is no longer in the campaign", row.Step)
	}
	var reasons []string
	for i, m := range d.Campaign.Spec.Steps[step].Messages {
		ch := d.Channels[m.ChannelRef.Name]
		if ch == nil {
			reasons = append(reasons, fmt.Sprintf("channel %s is not available", m.ChannelRef.Name))
			continue
		}
		address := addressFor(ch.Type, p.profile)
		if address == "" && ch.Type != cdpv1alpha1.ChannelWebhook {
			reasons = append(reasons, fmt.Sprintf("no %s address", ch.Type))
			continue
		}
		if s, ok := suppressed[string(ch.Type)][address]; ok && address != "" {
			reasons = append(reasons, fmt.Sprintf("%s address suppressed (%s)", ch.Type, s.Reason))
			continue
		}
		if ok, why := d.Policy.ConsentAllows(ch.Type, cdpv1alpha1.Purpose(row.Purpose), p.profile.Attributes, p.consents); !ok {
			reasons = append(reasons, why)
			continue
		}
		tmpl := templates.get(step, i, row.Variant)
		if missing := template.Missing(stringsOf(tmpl.required), template.Data{Attributes: p.profile.Attributes}); len(missing) > 0 {
			reasons = append(reasons, fmt.Sprintf("missing required attributes %v", missing))
			continue
		}
		return &choice{channel: ch, address: address, template: tmpl.message}, ""
	}
	return nil, joinReasons(reasons)
}

func joinReasons(reasons []string) string {
	if len(reasons) == 0 {
		return "the step has no message"
	}
	out := reasons[0]
	for _, r := range reasons[1:] {
		out += "; " + r
	}
	return out
}

func stringsOf(names []cdpv1alpha1.AttributeName) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = string(n)
	}
	return out
}

// addressFor returns the profile's address on a channel type: its first identifier of the
// type the channel delivers to.
func addressFor(t cdpv1alpha1.ChannelType, p store.Profile) string {
	idType := map[cdpv1alpha1.ChannelType]cdpv1alpha1.IdentifierType{
		cdpv1alpha1.ChannelSMTP: cdpv1alpha1.IdentifierEmail,
		cdpv1alpha1.ChannelSMS:  cdpv1alpha1.IdentifierPhone,
		cdpv1alpha1.ChannelLINE: cdpv1alpha1.IdentifierLineUserID,
		cdpv1alpha1.ChannelPush: cdpv1alpha1.IdentifierDeviceToken,
	}[t]
	if values := p.Identifiers[string(idType)]; len(values) > 0 {
		return values[0]
	}
	return ""
}

// message renders the chosen template for the recipient.
func (d *Deliverer) message(row *store.Delivery, p *recipient, c *choice, zone *time.Location) (*delivery.Message, error) {
	ns := d.Campaign.Namespace
	data := template.Data{
		ProfileID: row.ProfileID, Attributes: p.profile.Attributes,
		Identifiers: firstIdentifiers(p.profile.Identifiers), TimeZone: zone.String(),
		Links: map[string]string{},
	}
	claims := links.Claims{
		Namespace: ns, Campaign: d.Campaign.Name, Run: d.Run, Step: row.Step, ProfileID: row.ProfileID,
		ChannelType: string(c.channel.Type), Address: c.address, IssuedAt: d.Now(),
	}
	if d.Links != nil {
		recipientLinks := d.Links.For(claims)
		data.Links["unsubscribe"] = recipientLinks.UnsubscribeURL()
		data.LinkBuilder = recipientLinks
	}
	r, err := c.template.Render(data)
	if err != nil {
		return nil, fmt.Errorf("render step %s: %w", row.Step, err)
	}
	msg := &delivery.Message{
		ID: MessageID(ns, d.Campaign.Name, d.Run, row.ProfileID, row.Step),
		To: c.address, Subject: r.Subject, Text: r.Text, HTML: r.HTML,
		UnsubscribeURL: data.Links["unsubscribe"],
		Metadata: delivery.Metadata{Namespace: ns, Campaign: d.Campaign.Name, Run: d.Run, Step: row.Step,
			Variant: row.Variant, ProfileID: row.ProfileID},
	}
	if r.Payload != "" {
		msg.Payload = []byte(r.Payload)
	}
	return msg, nil
}

func firstIdentifiers(ids map[string][]string) map[string]string {
	out := make(map[string]string, len(ids))
	for k, v := range ids {
		if len(v) > 0 {
			out[k] = v[0]
		}
	}
	return out
}

// MessageID is a message's stable ID: the same ledger row always sends the same ID, so a
// provider, a receiver or a person reading headers recognises a retry.
func MessageID(namespace, campaign, run, profileID, step string) string {
	h := sha256.New()
	for _, part := range []string{namespace, campaign, run, profileID, step} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// outcome starts the outcome of a row: the same keys, this worker, now.
func (d *Deliverer) outcome(row *store.Delivery, now time.Time) store.Outcome {
	return store.Outcome{
		Namespace: row.Namespace, Campaign: row.Campaign, Run: row.Run, ProfileID: row.ProfileID,
		Step: row.Step, Worker: d.Worker, At: now,
	}
}

// loadRecipients reads the batch's profiles, consents and recent sends.
func (d *Deliverer) loadRecipients(ctx context.Context, batch []store.Delivery) (map[string]*recipient, error) {
	ns := d.Campaign.Namespace
	people := map[string]*recipient{}
	var ids []string
	for _, row := range batch {
		if people[row.ProfileID] == nil {
			ids = append(ids, row.ProfileID)
			people[row.ProfileID] = &recipient{}
		}
	}
	profiles, err := d.Store.LookupProfiles(ctx, ns, d.Resolution, ids)
	if err != nil {
		return nil, fmt.Errorf("read profiles: %w", err)
	}
	for id, p := range profiles {
		people[id].profile, people[id].found = p, true
	}
	consents, err := d.Store.Consents(ctx, ns, ids)
	if err != nil {
		return nil, fmt.Errorf("read consents: %w", err)
	}
	for id, cs := range consents {
		for _, c := range cs {
			people[id].consents = append(people[id].consents, policy.Consent{
				ChannelType: cdpv1alpha1.ChannelType(c.ChannelType), Purpose: cdpv1alpha1.Purpose(c.Purpose),
				Granted: c.Granted, At: c.RecordedAt,
			})
		}
	}
	if window := d.Policy.CapWindow(); window > 0 {
		sent, err := d.Store.RecentSends(ctx, ns, ids, d.Now().Add(-window))
		if err != nil {
			return nil, fmt.Errorf("read recent sends: %w", err)
		}
		for id, ss := range sent {
			for _, s := range ss {
				people[id].sends = append(people[id].sends, policy.Send{
					ChannelType: cdpv1alpha1.ChannelType(s.ChannelType), Purpose: cdpv1alpha1.Purpose(s.Purpose), At: s.SentAt,
				})
			}
		}
	}
	return people, nil
}

// loadSuppressions reads, per channel type the campaign uses, which of the batch's addresses
// are suppressed.
func (d *Deliverer) loadSuppressions(ctx context.Context, batch []store.Delivery, people map[string]*recipient) (map[string]map[string]store.Suppression, error) {
	addresses := map[cdpv1alpha1.ChannelType]map[string]bool{}
	for _, ch := range d.Channels {
		addresses[ch.Type] = map[string]bool{}
	}
	for _, row := range batch {
		p := people[row.ProfileID]
		for t := range addresses {
			if a := addressFor(t, p.profile); a != "" {
				addresses[t][a] = true
			}
		}
	}
	out := map[string]map[string]store.Suppression{}
	for t, set := range addresses {
		if len(set) == 0 {
			continue
		}
		s, err := d.Store.Suppressed(ctx, d.Campaign.Namespace, string(t), slices.Sorted(maps.Keys(set)))
		if err != nil {
			return nil, fmt.Errorf("read suppressions: %w", err)
		}
		out[string(t)] = s
	}
	return out, nil
}

// pendingSend is a decided message on its way to its channel.
type pendingSend struct {
	row     *store.Delivery
	out     store.Outcome
	msg     *delivery.Message
	channel *ChannelSender
}

// send sends the batch's messages, each channel with its own concurrency, and records each
// outcome before the connection that sent it takes the next message.
func (d *Deliverer) send(ctx context.Context, sends []*pendingSend, w *outcomeWriter, summary *DeliverySummary) error {
	byChannel := map[*ChannelSender][]*pendingSend{}
	for _, s := range sends {
		byChannel[s.channel] = append(byChannel[s.channel], s)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for ch, queue := range byChannel {
		next := make(chan *pendingSend)
		for range max(ch.Concurrency, 1) {
			wg.Go(func() {
				for s := range next {
					kind := d.sendOne(ctx, s, w)
					mu.Lock()
					switch kind {
					case store.DeliverySent:
						summary.Sent++
					case store.DeliveryFailed:
						summary.Failed++
					case store.DeliveryPending:
						summary.Retried++
					}
					mu.Unlock()
					if kind == "" {
						cancel(&ErrUnauthorized{Channel: ch.Name, Err: errors.New("the provider refused the credentials")})
					}
				}
			})
		}
		wg.Go(func() {
			defer close(next)
			for _, s := range queue {
				select {
				case next <- s:
				case <-ctx.Done():
					// Not sent: the rows go back to pending, unchanged but for the attempt.
					out := s.out
					out.State, out.NotBefore = store.DeliveryPending, d.Now()
					w.add(out, nil)
				}
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		var unauthorized *ErrUnauthorized
		if errors.As(err, &unauthorized) {
			return unauthorized
		}
	}
	return w.err()
}

// sendOne sends one message and records its outcome; it returns the row's new state, or "" when
// the channel refused its credentials.
func (d *Deliverer) sendOne(ctx context.Context, s *pendingSend, w *outcomeWriter) store.DeliveryState {
	out := s.out
	if s.channel.Limiter != nil {
		if err := s.channel.Limiter.Wait(ctx); err != nil {
			out.State, out.NotBefore = store.DeliveryPending, d.Now()
			w.add(out, nil)
			return store.DeliveryPending
		}
	}
	receipt, err := s.channel.Sender.Send(ctx, s.msg)
	out.At = d.Now()
	if err == nil {
		out.State, out.ProviderMessageID = store.DeliverySent, receipt.ProviderMessageID
		// The outcome is durable before this connection sends again: a kill loses at most the
		// record of the message in flight.
		_ = w.addAndWait(out)
		return store.DeliverySent
	}
	f := delivery.Classify(err)
	out.Error = f.Error()
	switch {
	case f.Kind == delivery.Unauthorized:
		out.State, out.NotBefore = store.DeliveryPending, out.At
		_ = w.addAndWait(out)
		return ""
	case f.Kind == delivery.Transient && s.row.Attempts < d.MaxAttempts:
		out.State, out.NotBefore = store.DeliveryPending, out.At.Add(retryDelay(s.row.Attempts, f.RetryAfter))
		_ = w.addAndWait(out)
		return store.DeliveryPending
	}
	out.State = store.DeliveryFailed
	if f.HardBounce && d.SuppressHardBounces && s.out.Address != "" {
		err := d.Store.Suppress(ctx, store.Suppression{
			Namespace: s.row.Namespace, ChannelType: string(s.channel.Type), Address: s.out.Address,
			Reason: store.SuppressHardBounce, Source: "campaign/" + s.row.Campaign, CreatedAt: out.At,
		})
		if err != nil {
			d.Log.Error(err, "suppress a hard-bounced address", "channel", s.channel.Name)
		}
	}
	_ = w.addAndWait(out)
	return store.DeliveryFailed
}

// retryDelay is the wait before attempt n+1: what the provider asked for, else exponential
// from 30 s, capped at an hour.
func retryDelay(attempts int, asked time.Duration) time.Duration {
	if asked > 0 {
		return asked
	}
	d := 30 * time.Second << min(max(attempts-1, 0), 7)
	return min(d, time.Hour)
}
