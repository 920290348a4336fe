package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// CampaignSpec declares who receives what, through which channels, and when.
// +kubebuilder:validation:XValidation:rule="!has(self.experiment) || self.steps.all(s, s.messages.all(m, !has(m.variants) || m.variants.all(v, self.experiment.variants.exists(e, e.name == v.name))))",message="every steps[].messages[].variants[].name must be one of spec.experiment.variants[].name"
// +kubebuilder:validation:XValidation:rule="has(self.experiment) || self.steps.all(s, s.messages.all(m, !has(m.variants)))",message="steps[].messages[].variants need spec.experiment to say how recipients are split"
type CampaignSpec struct {
	// Audience is who the campaign is for.
	// +required
	Audience Audience `json:"audience"`

	// Purpose of the messages: Marketing messages obey frequency caps and quiet hours.
	// Defaults to Marketing.
	// +kubebuilder:default=Marketing
	// +optional
	Purpose Purpose `json:"purpose,omitempty"`

	// PolicyRef names the DeliveryPolicy that applies. Defaults to the policy named "default" in
	// the namespace, when there is one.
	// +optional
	PolicyRef *LocalObjectReference `json:"policyRef,omitempty"`

	// Trigger says when the campaign runs.
	// +required
	Trigger CampaignTrigger `json:"trigger"`

	// Steps are the messages of the campaign, in order: a welcome series has several.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=10
	// +listType=map
	// +listMapKey=name
	// +required
	Steps []CampaignStep `json:"steps"`

	// Experiment splits recipients into variants and a holdout group.
	// +optional
	Experiment *Experiment `json:"experiment,omitempty"`

	// ReEligibleAfter lets a profile that already received the campaign receive it again once this
	// long has passed since its first step, e.g. 300d for a yearly birthday message. Without it, a
	// profile receives each step of a campaign at most once, however often the campaign runs, so a
	// daily schedule over a "birthday this month" audience does not greet anyone twice.
	// +optional
	ReEligibleAfter *Duration `json:"reEligibleAfter,omitempty"`

	// Parallelism is how many worker Pods deliver a run, each the recipients of its shard (a
	// hash of the profile). Defaults to 1; more helps when a channel's provider answers slowly.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=32
	// +optional
	Parallelism *int32 `json:"parallelism,omitempty"`

	// StartingDeadline is how late a scheduled run may still start, e.g. after the manager was
	// down: a run missed by more is skipped and reported, so that a morning newsletter does not
	// go out at midnight. Only the latest missed time is run. Defaults to 1h.
	// +optional
	StartingDeadline *Duration `json:"startingDeadline,omitempty"`

	// Suspend pauses the campaign: no new run starts and a running one stops claiming recipients.
	// Setting it back to false continues where it stopped.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// Audience is the segments a campaign includes, minus those it excludes.
type Audience struct {
	// Include: a profile in any of these segments is in the audience.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +listType=map
	// +listMapKey=name
	// +required
	Include []LocalObjectReference `json:"include"`

	// Exclude: a profile in any of these segments is left out.
	// +kubebuilder:validation:MaxItems=16
	// +listType=map
	// +listMapKey=name
	// +optional
	Exclude []LocalObjectReference `json:"exclude,omitempty"`
}

// CampaignTrigger is exactly one way of starting runs.
// +kubebuilder:validation:XValidation:rule="[has(self.once), has(self.schedule), has(self.segmentEntry), has(self.event)].filter(x, x).size() == 1",message="spec.trigger must set exactly one of once, schedule, segmentEntry or event"
type CampaignTrigger struct {
	// Once runs the campaign a single time, at a moment.
	// +optional
	Once *OnceTrigger `json:"once,omitempty"`

	// Schedule runs the campaign periodically; each run reaches the current audience, and the
	// ledger keeps a recipient from getting the same step twice in one run.
	// +optional
	Schedule *Schedule `json:"schedule,omitempty"`

	// SegmentEntry runs for profiles that entered an included segment since the last run.
	// +optional
	SegmentEntry *SegmentEntryTrigger `json:"segmentEntry,omitempty"`

	// Event runs, every checkEvery, for the profiles that performed an event since the last run.
	// +optional
	Event *EventTrigger `json:"event,omitempty"`
}

// OnceTrigger runs at one moment.
type OnceTrigger struct {
	// At is when the run starts (RFC 3339). A time in the past starts at once.
	// +required
	At metav1.Time `json:"at"`
}

// SegmentEntryTrigger checks for new members periodically.
type SegmentEntryTrigger struct {
	// CheckEvery is how often new members are looked for. Defaults to 15m; a check that finds
	// nobody who entered since the previous run starts no Job.
	// +kubebuilder:default="15m"
	// +optional
	CheckEvery Duration `json:"checkEvery,omitempty"`
}

// EventTrigger starts a journey when a profile performs an event. Every checkEvery, a run
// reaches the audience members who performed an event of the type, passing where, that the
// store received since the previous run's window, up to delay before the run: received, not
// occurred, so that an event that arrives late is not missed.
type EventTrigger struct {
	// Type of the event, e.g. cart_abandoned.
	// +required
	Type AttributeName `json:"type"`

	// Where filters the events by their properties, as a segment's event condition does.
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Where []AttributeCondition `json:"where,omitempty"`

	// Delay waits before the first step, e.g. 1h for a reminder of an abandoned cart: a run
	// reads the events received at least this long before it, and reads the audience then, so
	// that a customer who ordered in the meantime can be left out by an excluded segment.
	// +optional
	Delay *Duration `json:"delay,omitempty"`

	// CheckEvery is how often new events are looked for: a message goes out up to this long
	// after its event arrives, plus the delay. Defaults to 1m, at most 1d; a check that finds
	// no new event starts no Job.
	// +kubebuilder:default="1m"
	// +kubebuilder:validation:XValidation:rule="(self.matches('^[0-9]{1,6}m$') && int(self.substring(0, self.size() - 1)) <= 1440) || (self.matches('^[0-9]{1,6}h$') && int(self.substring(0, self.size() - 1)) <= 24) || self == '1d'",message="checkEvery must be at most 1d (24h): an event trigger that checks less often delays every message as long; use a schedule trigger instead"
	// +optional
	CheckEvery Duration `json:"checkEvery,omitempty"`
}

// CampaignStep is one message of a campaign, with fallbacks.
type CampaignStep struct {
	// Name of the step; ledger rows and message IDs carry it, so it must stay stable.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +required
	Name string `json:"name"`

	// Delay after the previous step (or after the trigger, for the first step). Defaults to none.
	// +optional
	Delay *Duration `json:"delay,omitempty"`

	// Messages are tried in order: a recipient gets the first one whose channel can reach them
	// (LINE if they follow the account, else email).
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=5
	// +required
	Messages []StepMessage `json:"messages"`
}

// StepMessage is a message on one channel.
type StepMessage struct {
	// ChannelRef names the Channel. It cannot change once the campaign has sent, because the
	// ledger and the frequency caps count messages per channel.
	// +required
	ChannelRef LocalObjectReference `json:"channelRef"`

	// Template of the message.
	// +required
	Template MessageTemplate `json:"template"`

	// Variants override the template for recipients of an experiment's variant.
	// +kubebuilder:validation:MaxItems=10
	// +listType=map
	// +listMapKey=name
	// +optional
	Variants []VariantTemplate `json:"variants,omitempty"`
}

// VariantTemplate is the template one experiment variant sends.
type VariantTemplate struct {
	// Name of the variant in spec.experiment.variants.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +required
	Name string `json:"name"`

	// Template of the variant.
	// +required
	Template MessageTemplate `json:"template"`
}

// MessageTemplate holds the parts of a message as Go templates over the profile, e.g.
// {{ honorific .Attributes.last_name }}. Which parts a channel needs: SMTP needs subject and text
// or html; SMS and Push need text; LINE needs text or a payload (a Flex message); Webhook needs
// payload. The controller checks that every template parses and that the channel's parts are
// present.
// +kubebuilder:validation:XValidation:rule="has(self.text) || has(self.html) || has(self.payload)",message="template must set at least one of text, html or payload"
type MessageTemplate struct {
	// Subject of an email, or the title of a push notification.
	// +kubebuilder:validation:MaxLength=998
	// +optional
	Subject string `json:"subject,omitempty"`

	// Text body: the plain-text part of an email, or the text of an SMS, LINE or push message.
	// +kubebuilder:validation:MaxLength=65536
	// +optional
	Text string `json:"text,omitempty"`

	// HTML body of an email. Values are HTML-escaped.
	// +kubebuilder:validation:MaxLength=262144
	// +optional
	HTML string `json:"html,omitempty"`

	// Payload is a JSON template for Webhook channels, or a LINE Flex message.
	// +kubebuilder:validation:MaxLength=65536
	// +optional
	Payload string `json:"payload,omitempty"`

	// RequiredAttributes must be present on a profile for it to receive the message; profiles
	// without them are counted as suppressed instead of receiving a message with gaps.
	// +kubebuilder:validation:MaxItems=32
	// +listType=set
	// +optional
	RequiredAttributes []AttributeName `json:"requiredAttributes,omitempty"`
}

// Experiment assigns each recipient, by a hash of the campaign and profile, to a variant or to
// the holdout group; a re-run assigns everyone the same way.
// +kubebuilder:validation:XValidation:rule="self.variants.map(v, v.weight).sum() == 100",message="experiment.variants[].weight must sum to 100"
type Experiment struct {
	// Variants of the campaign with their share of the non-holdout recipients.
	// +kubebuilder:validation:MinItems=2
	// +kubebuilder:validation:MaxItems=10
	// +listType=map
	// +listMapKey=name
	// +required
	Variants []Variant `json:"variants"`

	// HoldoutPercent of the audience receives nothing, to measure the campaign's lift.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=50
	// +optional
	HoldoutPercent int32 `json:"holdoutPercent,omitempty"`
}

// Variant is one arm of an experiment.
type Variant struct {
	// Name of the variant.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +required
	Name string `json:"name"`

	// Weight of the variant in percent; weights sum to 100.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +required
	Weight int32 `json:"weight"`
}

// DeliveryCounts are the outcomes of a run. They always add up:
// targeted = sent + suppressed + capped + deferred + failed + pending (+ holdout, counted apart).
type DeliveryCounts struct {
	// Targeted recipients (audience minus holdout).
	// +optional
	Targeted int64 `json:"targeted,omitempty"`
	// Sent messages the provider accepted.
	// +optional
	Sent int64 `json:"sent,omitempty"`
	// Suppressed: no consent, unsubscribed, bounced, or missing required attributes.
	// +optional
	Suppressed int64 `json:"suppressed,omitempty"`
	// Capped by a frequency cap.
	// +optional
	Capped int64 `json:"capped,omitempty"`
	// Deferred by quiet hours to a later time.
	// +optional
	Deferred int64 `json:"deferred,omitempty"`
	// Failed for good after retries.
	// +optional
	Failed int64 `json:"failed,omitempty"`
	// Pending: not yet processed.
	// +optional
	Pending int64 `json:"pending,omitempty"`
	// Holdout recipients, who are deliberately sent nothing.
	// +optional
	Holdout int64 `json:"holdout,omitempty"`
}

// CampaignRunSummary describes one run.
type CampaignRunSummary struct {
	// Name of the run (and of its Job).
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// StartTime of the run.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// CompletionTime of the run.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
	// Counts of the run.
	// +optional
	Counts DeliveryCounts `json:"counts,omitempty"`
}

// CampaignStatus reports the campaign's runs and totals.
type CampaignStatus struct {
	// ObservedGeneration is the generation of the spec the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, ReferencesResolved, SpecValid, and Running while a run is under way.
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// Totals over all runs. Once totals.sent is above zero, the channels of existing steps
	// cannot change.
	// +optional
	Totals DeliveryCounts `json:"totals,omitempty"`

	// LastRun describes the latest run.
	// +optional
	LastRun *CampaignRunSummary `json:"lastRun,omitempty"`

	// RecentRuns describe the latest runs, newest first: at most five. Every run's rows stay in
	// the store's ledger; totals counts them all.
	// +kubebuilder:validation:MaxItems=5
	// +listType=atomic
	// +optional
	RecentRuns []CampaignRunSummary `json:"recentRuns,omitempty"`

	// LastScheduleTime is the latest scheduled time the campaign ran at or skipped.
	// +optional
	LastScheduleTime *metav1.Time `json:"lastScheduleTime,omitempty"`

	// NextRunTime is when the next run is due; for a segmentEntry or event trigger, the next
	// check, which starts a run only when it finds someone new.
	// +optional
	NextRunTime *metav1.Time `json:"nextRunTime,omitempty"`
}

// Campaign sends messages to an audience through channels, under a delivery policy.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=camp,categories=kizuna
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Suspended",type=boolean,JSONPath=`.spec.suspend`
// +kubebuilder:printcolumn:name="Sent",type=integer,JSONPath=`.status.totals.sent`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Next Run",type=string,JSONPath=`.status.nextRunTime`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.status) || !has(oldSelf.status.totals) || !has(oldSelf.status.totals.sent) || oldSelf.status.totals.sent == 0 || oldSelf.spec.steps.all(o, !self.spec.steps.exists(n, n.name == o.name) || self.spec.steps.exists(n, n.name == o.name && n.messages.map(m, m.channelRef.name) == o.messages.map(m, m.channelRef.name)))",message="spec.steps[].messages[].channelRef cannot change once the campaign has sent (status.totals.sent > 0): the ledger and frequency caps count per channel; add a new step or create a new Campaign"
type Campaign struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec CampaignSpec `json:"spec"`
	// +optional
	Status CampaignStatus `json:"status,omitempty"`
}

// CampaignList is a list of Campaigns.
// +kubebuilder:object:root=true
type CampaignList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Campaign `json:"items"`
}
