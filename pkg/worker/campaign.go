package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/delivery/links"
	"github.com/kizuna-dev/kizuna/pkg/delivery/policy"
	"github.com/kizuna-dev/kizuna/pkg/store"
)

// Environment variables of a delivery Job's Pod, besides those of every worker (credentials.go).
const (
	// EnvCampaign holds the CampaignPayload of the run as JSON.
	EnvCampaign = "KIZUNA_CAMPAIGN"
	// EnvLinkKey is the key unsubscribe and tracking links are signed with (from a Secret).
	EnvLinkKey = "KIZUNA_LINK_KEY"
	// EnvLinkBaseURL is the public address the links point to.
	EnvLinkBaseURL = "KIZUNA_LINK_BASE_URL"
)

// CampaignPayload is everything a delivery worker reads besides the store and Secrets: the
// campaign, the channels its steps name, the policy that applies, the resolution its segments
// select from, and the run.
type CampaignPayload struct {
	Campaign   *cdpv1alpha1.Campaign       `json:"campaign"`
	Channels   []*cdpv1alpha1.Channel      `json:"channels"`
	Policy     *cdpv1alpha1.DeliveryPolicy `json:"policy,omitempty"`
	Resolution string                      `json:"resolution"`
	Run        CampaignRun                 `json:"run"`
	// Events is set for the run of an event trigger.
	Events *EventInputs `json:"events,omitempty"`
}

// EventInputs are what a run of an event trigger reads besides the campaign: the resolution,
// whose normalisers link the identifiers of new events to its profiles, and the event
// properties the namespace's Events DataSources declare, which type the trigger's where.
type EventInputs struct {
	IdentityResolution *cdpv1alpha1.IdentityResolution      `json:"identityResolution"`
	Properties         map[string]cdpv1alpha1.AttributeType `json:"properties,omitempty"`
}

// DeliveryOptions are the parts of a delivery that come from where it runs.
type DeliveryOptions struct {
	Shard int
	// Worker names this process uniquely, e.g. the Pod's name.
	Worker   string
	Links    *links.Signer
	Channels ChannelOptions
	Now      func() time.Time
	Log      logr.Logger
}

// NewDeliverer prepares the worker of one shard of a run: it compiles the policy and opens a
// sender per channel. The caller calls close when done.
func NewDeliverer(ctx context.Context, st store.Store, p *CampaignPayload, creds Credentials, opts DeliveryOptions) (d *Deliverer, closeSenders func(), err error) {
	var spec *cdpv1alpha1.DeliveryPolicySpec
	if p.Policy != nil {
		spec = &p.Policy.Spec
	}
	pol, err := policy.Compile(spec)
	if err != nil {
		return nil, nil, fmt.Errorf("delivery policy: %w", err)
	}
	channels := map[string]*ChannelSender{}
	closeSenders = func() {
		for _, c := range channels {
			_ = c.Sender.Close()
		}
	}
	for _, ch := range p.Channels {
		c, err := NewChannelSender(ctx, st, ch, creds, opts.Channels)
		if err != nil {
			closeSenders()
			return nil, nil, err
		}
		channels[ch.Name] = c
	}
	suppressHardBounces := true
	if spec != nil && spec.Suppression.HardBounces != nil {
		suppressHardBounces = *spec.Suppression.HardBounces
	}
	d = &Deliverer{
		Store: st, Campaign: p.Campaign, Resolution: p.Resolution, Channels: channels, Policy: pol, PolicyName: policyName(p),
		Links: opts.Links, SuppressHardBounces: suppressHardBounces,
		Run: p.Run.Run, Shard: opts.Shard, Worker: opts.Worker, Now: opts.Now, Log: opts.Log,
	}
	return d, closeSenders, nil
}

// DeliverRun plans the run (once, whichever worker comes first) and delivers one shard of it.
func DeliverRun(ctx context.Context, st store.Store, p *CampaignPayload, creds Credentials, opts DeliveryOptions) (DeliverySummary, error) {
	if _, err := PlanCampaignRun(ctx, st, p); err != nil {
		return DeliverySummary{}, err
	}
	d, closeSenders, err := NewDeliverer(ctx, st, p, creds, opts)
	if err != nil {
		return DeliverySummary{}, err
	}
	defer closeSenders()
	summary, err := d.Deliver(ctx)
	var unauthorized *ErrUnauthorized
	if errors.As(err, &unauthorized) {
		return summary, err
	}
	if err != nil {
		return summary, fmt.Errorf("deliver run %s of campaign %s/%s: %w", p.Run.Run, p.Campaign.Namespace, p.Campaign.Name, err)
	}
	return summary, nil
}

// AudiencePlan is what a run would do, computed without writing anything.
type AudiencePlan struct {
	Recipients int64
	Holdout    int64
	// Variants counts the recipients of each variant ("" without an experiment).
	Variants map[string]int64
	// AlreadyReached are audience members an earlier run reached, left out.
	AlreadyReached int64
}

// PlanAudience computes who a run would target, without writing a ledger. For an event run, it
// links the identifiers of new events to profiles first, as a run does.
func PlanAudience(ctx context.Context, st store.Store, p *CampaignPayload) (AudiencePlan, error) {
	camp, run := p.Campaign, p.Run
	all, err := audience(ctx, st, p)
	if err != nil {
		return AudiencePlan{}, err
	}
	recipients, err := withoutEarlierRecipients(ctx, st, camp, run, all)
	if err != nil {
		return AudiencePlan{}, err
	}
	plan := AudiencePlan{Variants: map[string]int64{}, AlreadyReached: int64(len(all) - len(recipients))}
	for _, id := range recipients {
		variant, holdout := policy.Assign(camp.Name, id, camp.Spec.Experiment)
		if holdout {
			plan.Holdout++
			continue
		}
		plan.Recipients++
		plan.Variants[variant]++
	}
	return plan, nil
}

// PreviewMessage is what one step of a campaign would send to one profile.
type PreviewMessage struct {
	Step    string
	Variant string
	// Holdout is true when the profile is in the experiment's holdout: it would get nothing.
	Holdout bool
	// Channel is the channel chosen among the step's messages, empty when none reaches the
	// profile; Reason then says why.
	Channel, ChannelType, To string
	Reason                   string
	Subject, Text, HTML      string
	Payload                  string
}

// policyName is the name of the DeliveryPolicy a payload runs under; "" for none.
func policyName(p *CampaignPayload) string {
	if p.Policy == nil {
		return ""
	}
	return p.Policy.Name
}

// PreviewCampaign renders the messages a profile would get from each step of a campaign, with
// the choices the worker would make (variant, channel fallback, suppression and consent),
// sending nothing and writing nothing.
func PreviewCampaign(ctx context.Context, st store.Store, p *CampaignPayload, profileID string, signer *links.Signer, now time.Time) ([]PreviewMessage, error) {
	var spec *cdpv1alpha1.DeliveryPolicySpec
	if p.Policy != nil {
		spec = &p.Policy.Spec
	}
	pol, err := policy.Compile(spec)
	if err != nil {
		return nil, fmt.Errorf("delivery policy: %w", err)
	}
	channels := map[string]*ChannelSender{}
	for _, ch := range p.Channels {
		channels[ch.Name] = &ChannelSender{Name: ch.Name, Type: ch.Spec.Type}
	}
	d := &Deliverer{Store: st, Campaign: p.Campaign, Resolution: p.Resolution, Channels: channels, Policy: pol,
		Links: signer, Run: p.Run.Run, Now: func() time.Time { return now }}
	templates, err := parseStepTemplates(p.Campaign)
	if err != nil {
		return nil, err
	}
	variant, holdout := policy.Assign(p.Campaign.Name, profileID, p.Campaign.Spec.Experiment)
	purpose := p.Campaign.Spec.Purpose
	if purpose == "" {
		purpose = cdpv1alpha1.PurposeMarketing
	}
	var rows []store.Delivery
	for _, step := range p.Campaign.Spec.Steps {
		rows = append(rows, store.Delivery{Namespace: p.Campaign.Namespace, Campaign: p.Campaign.Name, Run: p.Run.Run,
			ProfileID: profileID, Step: step.Name, Variant: variant, Purpose: string(purpose)})
	}
	people, err := d.loadRecipients(ctx, rows)
	if err != nil {
		return nil, err
	}
	if !people[profileID].found {
		return nil, fmt.Errorf("profile %s is not among the published profiles of resolution %s", profileID, p.Resolution)
	}
	suppressed, err := d.loadSuppressions(ctx, rows, people)
	if err != nil {
		return nil, err
	}
	var out []PreviewMessage
	for i := range rows {
		row := &rows[i]
		pm := PreviewMessage{Step: row.Step, Variant: variant, Holdout: holdout}
		c, reason := d.choose(row, people[profileID], suppressed, templates)
		if c == nil {
			pm.Reason = reason
			out = append(out, pm)
			continue
		}
		pm.Channel, pm.ChannelType, pm.To = c.channel.Name, string(c.channel.Type), c.address
		msg, err := d.message(row, people[profileID], c, pol.Location(people[profileID].profile.Attributes))
		if err != nil {
			pm.Reason = err.Error()
		} else {
			pm.Subject, pm.Text, pm.HTML, pm.Payload = msg.Subject, msg.Text, msg.HTML, string(msg.Payload)
		}
		out = append(out, pm)
	}
	return out, nil
}
