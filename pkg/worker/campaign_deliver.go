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
	// Deduplicates says the provider drops a message whose ID it has already accepted: a
	// webhook's receiver by its Idempotency-Key, LINE by its X-Line-Retry-Key. A connection then
	// sends its next message without waiting for the last one's record: a crash sends again the
	// messages whose records were still queued, and the provider drops them. Otherwise (SMTP,
	// SMS, push) each record is durable before the provider accepts the connection's next
	// message, so that a crash sends at most one message per connection twice; SMTP sends the
	// next message but for its final dot meanwhile (delivery.Stager).
	Deduplicates bool
}

// Limiter waits until the channel may send one more message.
type Limiter interface {
	Wait(ctx context.Context) error
}

// Deliverer sends one shard of a planned campaign run: it takes the shard over, reads its due
// ledger rows, decides each recipient's fate under the delivery policy, sends, and records every
// outcome. A row is written once, by its outcome: a worker killed at any point and started again
// reads the rows left pending and continues where it stopped; the only message that can go
// twice is one whose provider accepted it in the instant before the kill, at most one per
// connection (RFC 1047's window).
type Deliverer struct {
	Store      store.Store
	Campaign   *cdpv1alpha1.Campaign
	Resolution string
	Channels   map[string]*ChannelSender
	Policy     *policy.Policy
	// PolicyName is the DeliveryPolicy's name, which the ledger's totals count its outcomes under.
	PolicyName string
	// Links signs the recipients' unsubscribe and tracking links; nil leaves them out.
	Links *links.Signer
	// Suppress, from the policy, says which failures add the address to the suppression list.
	SuppressHardBounces bool

	Run   string
	Shard int
	// Worker names this process uniquely (a Pod's name and process ID): the shard's owner.
	Worker string
	Now    func() time.Time
	Log    logr.Logger

	// BatchSize rows are read at a time; MaxAttempts bounds the sends of one row.
	BatchSize   int
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
	// Read counts the due rows read; the others, the outcomes of this worker.
	Read, Sent, Failed, Retried, Suppressed, Capped, Deferred int64
}

// Deliver takes the shard over and works through its rows that are due until none is left. It is
// a pipeline: one goroutine reads a batch and decides and renders its messages while each
// channel's senders work through the previous one, so that sending never stops for a read. Once
// another worker takes the shard over, the outcomes of this one fail with store.ErrNotShardOwner
// and it stops.
func (d *Deliverer) Deliver(ctx context.Context) (DeliverySummary, error) {
	d.setDefaults()
	templates, err := parseStepTemplates(d.Campaign)
	if err != nil {
		return DeliverySummary{}, err
	}
	if _, err := d.Store.TakeShard(ctx, d.Campaign.Namespace, d.Campaign.Name, d.Run, d.Shard, d.Worker); err != nil {
		return DeliverySummary{}, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// An outcome that cannot be recorded stops the run at once: the reader and every connection,
	// whichever outcome it was (another worker may have taken the shard over).
	w := newOutcomeWriter(d.Store, func(err error) { cancel(err) })
	defer w.close()
	var tally tally
	senders := d.startSenders(ctx, cancel, w, &tally)
	readErr := d.readAndPrepare(ctx, templates, w, &tally, senders)
	if errors.Is(readErr, store.ErrNotShardOwner) {
		// The shard has a new owner, which sends the rows queued here: none of them goes.
		cancel(readErr)
		readErr = nil // the cause says it
	}
	senders.stop()
	summary := tally.summary()
	// The cause is a channel's refusal, an outcome that could not be recorded (another worker
	// took the shard over), or the caller's cancellation.
	cause, writeErr := context.Cause(ctx), w.flush()
	if errors.Is(cause, writeErr) {
		writeErr = nil // the failed write cancelled the run: the cause says it
	}
	return summary, errors.Join(cause, readErr, writeErr)
}

// readAndPrepare reads the shard's due rows a batch at a time, decides each one's fate and
// hands the messages to send to the senders, until no row is due or ctx ends. Each read starts
// where the last one stopped: the rows read are pending until their outcomes are recorded.
func (d *Deliverer) readAndPrepare(ctx context.Context, templates stepTemplates, w *outcomeWriter,
	tally *tally, senders *senders) error {
	var cursor store.DueCursor
	for {
		if ctx.Err() != nil {
			return nil // the senders' cancellation, or the caller's, is reported by Deliver
		}
		batch, next, err := d.Store.DueDeliveries(ctx, store.DueQuery{
			Namespace: d.Campaign.Namespace, Campaign: d.Campaign.Name, Run: d.Run, Shard: d.Shard,
			Limit: d.BatchSize, Now: d.Now(), After: cursor,
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if len(batch) == 0 {
			return nil
		}
		cursor = next
		tally.add(func(s *DeliverySummary) { s.Read += int64(len(batch)) })
		sends, err := d.prepareBatch(ctx, batch, templates, w, tally)
		if err != nil && ctx.Err() != nil {
			// Stopped while the batch was prepared: the rows not recorded yet stay as they
			// are, and nothing of the batch was reserved (a reservation that fails reserves
			// nothing).
			return nil
		}
		if err != nil {
			// The rows not recorded yet stay as they are, for the next worker of the shard.
			return err
		}
		d.enqueue(ctx, senders, sends, w)
	}
}

// tally counts what a Deliver did, from the goroutines of its pipeline.
type tally struct {
	mu sync.Mutex
	s  DeliverySummary
}

func (t *tally) add(f func(*DeliverySummary)) {
	t.mu.Lock()
	f(&t.s)
	t.mu.Unlock()
}

func (t *tally) summary() DeliverySummary {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.s
}

func (d *Deliverer) setDefaults() {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.BatchSize <= 0 {
		d.BatchSize = 500
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
}

// candidate is a row that will be sent unless a frequency cap holds it back.
type candidate struct {
	row     *store.Delivery
	out     store.Outcome
	p       *recipient
	choice  *choice
	zone    *time.Location
	purpose cdpv1alpha1.Purpose
}

// prepareBatch decides the fate of each row of a batch read: the rows that will not be sent
// are recorded at once, and the messages to send are returned, rendered.
func (d *Deliverer) prepareBatch(ctx context.Context, batch []store.Delivery, templates stepTemplates,
	w *outcomeWriter, tally *tally) ([]*pendingSend, error) {
	people, err := d.loadRecipients(ctx, batch)
	if err != nil {
		return nil, err
	}
	suppressed, err := d.loadSuppressions(ctx, batch, people)
	if err != nil {
		return nil, err
	}
	var summary DeliverySummary
	defer tally.add(func(s *DeliverySummary) {
		s.Suppressed += summary.Suppressed
		s.Deferred += summary.Deferred
		s.Capped += summary.Capped
		s.Failed += summary.Failed
	})
	now := d.Now()
	var candidates []candidate
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
		candidates = append(candidates, candidate{row: row, out: out, p: p, choice: choice, zone: zone, purpose: purpose})
	}
	capNames, err := d.reserve(ctx, candidates, now)
	if err != nil {
		return nil, err
	}
	var sends []*pendingSend
	for i, c := range candidates {
		out := c.out
		if capNames[i] != "" {
			out.State, out.Error = store.DeliveryCapped, "frequency cap "+capNames[i]
			summary.Capped++
			w.add(out, nil)
			continue
		}
		msg, err := d.message(c.row, c.p, c.choice, c.zone)
		if err != nil {
			out.State, out.Error = store.DeliveryFailed, err.Error()
			summary.Failed++
			w.add(out, nil)
			continue
		}
		out.MessageID = msg.ID
		sends = append(sends, &pendingSend{row: c.row, out: out, msg: msg, channel: c.choice.channel})
	}
	return sends, nil
}

// reserve holds the candidates against the policy's frequency caps, and returns for each the
// name of the cap that holds it back, or "" when it may go. The store reserves the sends it
// allows, so that every other worker's caps count them before their outcomes are recorded: a
// message this worker or another one is about to send to the same person counts, whichever
// campaign sends it.
func (d *Deliverer) reserve(ctx context.Context, candidates []candidate, now time.Time) (capNames []string, err error) {
	capNames = make([]string, len(candidates))
	window := d.Policy.CapWindow()
	if window <= 0 || len(candidates) == 0 {
		return capNames, nil
	}
	r := store.Reservation{Namespace: d.Campaign.Namespace, Campaign: d.Campaign.Name, Run: d.Run, Shard: d.Shard,
		Worker: d.Worker, Since: now.Add(-window), At: now, Sends: make([]store.ReservedSend, len(candidates))}
	for i, c := range candidates {
		r.Sends[i] = store.ReservedSend{ProfileID: c.row.ProfileID, Step: c.row.Step,
			ChannelType: string(c.choice.channel.Type), Purpose: string(c.purpose)}
	}
	var sends []policy.Send
	r.Allow = func(i int, sent []store.Sent) bool {
		sends = sends[:0]
		for _, s := range sent {
			sends = append(sends, policy.Send{ChannelType: cdpv1alpha1.ChannelType(s.ChannelType), Purpose: cdpv1alpha1.Purpose(s.Purpose), At: s.SentAt})
		}
		c := candidates[i]
		capNames[i] = d.Policy.Capped(sends, c.choice.channel.Type, c.purpose, now)
		return capNames[i] == ""
	}
	reserved, err := d.Store.ReserveSends(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("hold the batch against the frequency caps: %w", err)
	}
	for i, c := range candidates {
		if capNames[i] == "" && !reserved[i] {
			// Only this worker records the shard's rows: one that is no longer due was changed
			// under it (its campaign deleted), and nothing of the batch may go.
			return nil, fmt.Errorf("hold the batch against the frequency caps: row %s/%s is no longer due", c.row.ProfileID, c.row.Step)
		}
	}
	return capNames, nil
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
		Step: row.Step, Shard: row.Shard, Worker: d.Worker, Policy: d.PolicyName, At: now, RowUpdatedAt: row.UpdatedAt,
	}
}

// loadRecipients reads the batch's profiles and consents.
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

// senders are the goroutines of each channel, as many as its concurrency, that send the
// messages queued for it for the whole of a Deliver, each a connection's worth (see sendOne).
type senders struct {
	queues map[*ChannelSender]chan *pendingSend
	wg     sync.WaitGroup
}

func (d *Deliverer) startSenders(ctx context.Context, cancel context.CancelCauseFunc, w *outcomeWriter, tally *tally) *senders {
	ss := &senders{queues: map[*ChannelSender]chan *pendingSend{}}
	for _, ch := range d.Channels {
		// A queue holds about a batch: the next read waits while the senders are that far behind.
		queue := make(chan *pendingSend, d.BatchSize)
		ss.queues[ch] = queue
		for range max(ch.Concurrency, 1) {
			ss.wg.Go(func() {
				// unrecorded receives the write of the outcome of this connection's last
				// message, while it may still be unrecorded (see sendOne).
				var unrecorded <-chan error
				defer func() { _ = waitWritten(unrecorded) }()
				for s := range queue {
					if ctx.Err() != nil {
						// Not sent: the row stays pending.
						d.release(s, w)
						continue
					}
					var result sendResult
					result, unrecorded = d.sendOne(ctx, s, w, unrecorded)
					tally.add(func(sum *DeliverySummary) {
						switch result {
						case sendSent:
							sum.Sent++
						case sendFailed:
							sum.Failed++
						case sendRetried:
							sum.Retried++
						}
					})
					if result == sendUnauthorized {
						cancel(&ErrUnauthorized{Channel: ch.Name, Err: errors.New("the provider refused the credentials")})
					}
				}
			})
		}
	}
	return ss
}

// enqueue hands a batch's messages to their channels' senders; once ctx ends, the messages not
// yet queued go back to pending.
func (d *Deliverer) enqueue(ctx context.Context, ss *senders, sends []*pendingSend, w *outcomeWriter) {
	for i, s := range sends {
		select {
		case ss.queues[s.channel] <- s:
		case <-ctx.Done():
			for _, rest := range sends[i:] {
				d.release(rest, w)
			}
			return
		}
	}
}

// stop waits until the senders have worked through their queues.
func (ss *senders) stop() {
	for _, q := range ss.queues {
		close(q)
	}
	ss.wg.Wait()
}

// release records that a message was not sent: its row stays pending, and a frequency-cap
// reservation of it ends.
func (d *Deliverer) release(s *pendingSend, w *outcomeWriter) {
	out := s.out
	out.State, out.NotBefore = store.DeliveryPending, out.At
	w.add(out, nil)
}

// sendOne sends one message and queues its outcome. It returns what became of the message, and
// the channel that receives the result of the outcome's write while the connection has not
// waited for it.
//
// A message is accepted only once the outcome of the connection's previous one, whose write
// unrecorded receives, is durable, so that a kill leaves at most one accepted message per
// connection unrecorded: the one in flight (RFC 1047's window). A channel that stages messages
// (SMTP) sends this one but for its final dot meanwhile, so that a connection's cycle is the
// longer of sending and recording rather than their sum. Other channels send once the record is
// durable, except those whose providers drop a message sent twice (Deduplicates), which never
// wait.
func (d *Deliverer) sendOne(ctx context.Context, s *pendingSend, w *outcomeWriter, unrecorded <-chan error) (sendResult, <-chan error) {
	if s.channel.Limiter != nil {
		if err := s.channel.Limiter.Wait(ctx); err != nil {
			d.release(s, w)
			return sendReleased, unrecorded
		}
	}
	out := s.out
	var receipt delivery.Receipt
	var err error
	stager, staging := s.channel.Sender.(delivery.Stager)
	staging = staging && !s.channel.Deduplicates
	if staging {
		var staged delivery.Staged
		staged, err = stager.Stage(ctx, s.msg)
		if recordErr := waitWritten(unrecorded); recordErr != nil || ctx.Err() != nil {
			// The last message is not recorded (the run stops on the writer's error), or the
			// run stopped meanwhile: this one is not accepted.
			if staged != nil {
				staged.Abandon()
			}
			d.release(s, w)
			return sendReleased, nil
		}
		// Announced only now: the writer waits a moment for the outcomes of messages on their
		// way, and this one's could not come while it waited for the last one's record.
		w.sendStarted()
		if err == nil {
			// Not cancelled from here on: a dot that went out has its reply read and recorded.
			receipt, err = staged.Commit(context.WithoutCancel(ctx))
		}
	} else {
		w.sendStarted()
		receipt, err = s.channel.Sender.Send(ctx, s.msg)
	}
	result := d.outcomeOf(ctx, s, &out, receipt, err)
	written := w.addSent(out)
	switch {
	case staging:
		return result, written // the next message is committed once it is durable
	case !s.channel.Deduplicates:
		_ = waitWritten(written)
	}
	return result, nil
}

// sendResult is what became of a message sendOne took.
type sendResult int

const (
	sendSent sendResult = iota
	sendFailed
	// sendRetried messages failed for now: their rows are due again later.
	sendRetried
	// sendReleased messages were not sent: the run stopped first.
	sendReleased
	// sendUnauthorized messages were refused with the channel's credentials: the run stops.
	sendUnauthorized
)

// waitWritten waits for the write whose result written receives, if any, and returns it.
func waitWritten(written <-chan error) error {
	if written == nil {
		return nil
	}
	return <-written
}

// outcomeOf fills in the outcome of a message the channel sent, or failed to.
func (d *Deliverer) outcomeOf(ctx context.Context, s *pendingSend, out *store.Outcome, receipt delivery.Receipt, err error) sendResult {
	out.At, out.Attempted = d.Now(), true
	attempt := s.row.Attempts + 1
	if err == nil {
		out.State, out.ProviderMessageID = store.DeliverySent, receipt.ProviderMessageID
		return sendSent
	}
	f := delivery.Classify(err)
	out.Error = f.Error()
	switch {
	case f.Kind == delivery.Unauthorized:
		// The provider took no message: the row waits for the Secret's fix, its attempts kept.
		out.State, out.NotBefore, out.Attempted = store.DeliveryPending, out.At, false
		return sendUnauthorized
	case f.Kind == delivery.Transient && attempt < d.MaxAttempts:
		out.State, out.NotBefore = store.DeliveryPending, out.At.Add(retryDelay(attempt, f.RetryAfter))
		return sendRetried
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
	return sendFailed
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
