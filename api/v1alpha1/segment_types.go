package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SegmentDataFinalizer holds a Segment until the manager has deleted its members, history and
// evaluations from the store: without it, a segment deleted and created again under the same
// name would inherit the old one's members, and its first evaluation would record no entries.
const SegmentDataFinalizer = "cdp.kizuna.dev/segment-data"

// SegmentSpec declares an audience: the profiles of a resolution that satisfy a rule.
type SegmentSpec struct {
	// ResolutionRef names the IdentityResolution whose profiles the segment selects from.
	// +required
	ResolutionRef LocalObjectReference `json:"resolutionRef"`

	// Rule selects the members.
	// +required
	Rule SegmentRule `json:"rule"`

	// Schedule re-evaluates the segment periodically, so that time windows ("in the last 30
	// days") move with the clock. The segment is also evaluated whenever the resolution publishes
	// new profiles and whenever a segment it references changes.
	// +optional
	Schedule *Schedule `json:"schedule,omitempty"`
}

// A rule tree is written with three levels: SegmentRule at the top, NestedRule below it and
// LeafRule at the bottom. CRD schemas cannot be recursive; three levels express every audience
// in the samples and the docs, e.g. all of [bought twice in 90 days, not [bought in 30 days]].

// SegmentRule is the top of a rule tree: a group (all, any, not) of nested rules, or one condition.
// +kubebuilder:validation:XValidation:rule="[has(self.all), has(self.any), has(self.not), has(self.attribute), has(self.identifier), has(self.event), has(self.segment), has(self.rfm), has(self.randomBucket)].filter(x, x).size() == 1",message="a rule must set exactly one of all, any, not, attribute, identifier, event, segment, rfm or randomBucket"
type SegmentRule struct {
	// All matches profiles that satisfy every rule.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +optional
	All []NestedRule `json:"all,omitempty"`

	// Any matches profiles that satisfy at least one rule.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +optional
	Any []NestedRule `json:"any,omitempty"`

	// Not matches profiles that do not satisfy the rule.
	// +optional
	Not *NestedRule `json:"not,omitempty"`

	Condition `json:",inline"`
}

// NestedRule is the second level of a rule tree.
// +kubebuilder:validation:XValidation:rule="[has(self.all), has(self.any), has(self.not), has(self.attribute), has(self.identifier), has(self.event), has(self.segment), has(self.rfm), has(self.randomBucket)].filter(x, x).size() == 1",message="a rule must set exactly one of all, any, not, attribute, identifier, event, segment, rfm or randomBucket"
type NestedRule struct {
	// All matches profiles that satisfy every rule.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +optional
	All []LeafRule `json:"all,omitempty"`

	// Any matches profiles that satisfy at least one rule.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +optional
	Any []LeafRule `json:"any,omitempty"`

	// Not matches profiles that do not satisfy the rule.
	// +optional
	Not *LeafRule `json:"not,omitempty"`

	Condition `json:",inline"`
}

// LeafRule is the third and last level of a rule tree: a condition, or its negation.
// +kubebuilder:validation:XValidation:rule="[has(self.attribute), has(self.identifier), has(self.event), has(self.segment), has(self.rfm), has(self.randomBucket)].filter(x, x).size() == 1",message="a rule at the third level must set exactly one of attribute, identifier, event, segment, rfm or randomBucket (groups cannot nest deeper)"
type LeafRule struct {
	// Negate matches profiles that do not satisfy the condition.
	// +optional
	Negate bool `json:"negate,omitempty"`

	Condition `json:",inline"`
}

// Condition is one test on a profile. Exactly one field is set.
type Condition struct {
	// Attribute tests a profile attribute.
	// +optional
	Attribute *AttributeCondition `json:"attribute,omitempty"`

	// Identifier tests whether the profile has an identifier of a type.
	// +optional
	Identifier *IdentifierCondition `json:"identifier,omitempty"`

	// Event tests what the customer did.
	// +optional
	Event *EventCondition `json:"event,omitempty"`

	// Segment tests membership of another Segment of the same resolution.
	// +optional
	Segment *SegmentMembershipCondition `json:"segment,omitempty"`

	// RFM tests recency, frequency and monetary scores computed from events.
	// +optional
	RFM *RFMCondition `json:"rfm,omitempty"`

	// RandomBucket selects a stable pseudo-random share of profiles, for samples and tests.
	// +optional
	RandomBucket *RandomBucketCondition `json:"randomBucket,omitempty"`
}

// Operator compares a value with the rule's operand.
// +kubebuilder:validation:Enum=Equals;NotEquals;In;NotIn;Contains;Prefix;Exists;NotExists;GreaterThan;GreaterThanOrEqual;LessThan;LessThanOrEqual;Between;WithinLast;NotWithinLast;AnniversaryWithinNext;AnniversaryThisMonth
type Operator string

const (
	OpEquals               Operator = "Equals"
	OpNotEquals            Operator = "NotEquals"
	OpIn                   Operator = "In"
	OpNotIn                Operator = "NotIn"
	OpContains             Operator = "Contains"
	OpPrefix               Operator = "Prefix"
	OpExists               Operator = "Exists"
	OpNotExists            Operator = "NotExists"
	OpGreaterThan          Operator = "GreaterThan"
	OpGreaterThanOrEqual   Operator = "GreaterThanOrEqual"
	OpLessThan             Operator = "LessThan"
	OpLessThanOrEqual      Operator = "LessThanOrEqual"
	OpBetween              Operator = "Between"
	OpWithinLast           Operator = "WithinLast"
	OpNotWithinLast        Operator = "NotWithinLast"
	OpAnniversaryWithin    Operator = "AnniversaryWithinNext"
	OpAnniversaryThisMonth Operator = "AnniversaryThisMonth"
)

// AttributeCondition compares a profile attribute (or an event property) with a value.
// +kubebuilder:validation:XValidation:rule="self.operator in ['Exists', 'NotExists', 'AnniversaryThisMonth'] ? !has(self.value) && !has(self.values) && !has(self.duration) : true",message="Exists, NotExists and AnniversaryThisMonth take no value, values or duration"
// +kubebuilder:validation:XValidation:rule="self.operator in ['In', 'NotIn', 'Between'] ? has(self.values) && !has(self.value) : true",message="In, NotIn and Between take values (a list), not value"
// +kubebuilder:validation:XValidation:rule="self.operator == 'Between' && has(self.values) ? self.values.size() == 2 : true",message="Between takes exactly two values: the lower and the upper bound"
// +kubebuilder:validation:XValidation:rule="self.operator in ['Equals', 'NotEquals', 'Contains', 'Prefix', 'GreaterThan', 'GreaterThanOrEqual', 'LessThan', 'LessThanOrEqual'] ? has(self.value) && !has(self.values) : true",message="this operator takes one value, not values"
// +kubebuilder:validation:XValidation:rule="self.operator in ['WithinLast', 'NotWithinLast', 'AnniversaryWithinNext'] ? has(self.duration) && !has(self.value) && !has(self.values) : !has(self.duration)",message="WithinLast, NotWithinLast and AnniversaryWithinNext take a duration (e.g. 30d) and no value; other operators take no duration"
type AttributeCondition struct {
	// Path of the attribute, e.g. prefecture or address.city.
	// +required
	Path AttributeName `json:"path"`

	// Operator compares the attribute with value, values or duration.
	// +required
	Operator Operator `json:"operator"`

	// Value compared with. Numbers and dates are written as strings ("10000", "2026-01-31").
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Value *string `json:"value,omitempty"`

	// Values compared with, for In, NotIn and Between.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=1000
	// +kubebuilder:validation:items:MaxLength=1024
	// +optional
	Values []string `json:"values,omitempty"`

	// Duration for relative-date operators, e.g. 30d.
	// +optional
	Duration *Duration `json:"duration,omitempty"`
}

// IdentifierCondition tests whether a profile has an identifier.
type IdentifierCondition struct {
	// Type of identifier, e.g. Email.
	// +required
	Type IdentifierType `json:"type"`

	// Reachable requires the identifier to be usable for sending: not bounced, not
	// unsubscribed, and consented when the delivery policy asks for consent.
	// +optional
	Reachable bool `json:"reachable,omitempty"`
}

// EventCondition matches profiles by the events they performed.
// +kubebuilder:validation:XValidation:rule="!(has(self.within) && has(self.between))",message="event: set at most one of within and between"
// +kubebuilder:validation:XValidation:rule="!(has(self.count) && has(self.sum))",message="event: set at most one of count and sum"
type EventCondition struct {
	// Type of the event, e.g. purchase or email_opened.
	// +required
	Type AttributeName `json:"type"`

	// Where filters the events by their properties.
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Where []AttributeCondition `json:"where,omitempty"`

	// Within counts only events in the last duration, e.g. 90d.
	// +optional
	Within *Duration `json:"within,omitempty"`

	// Between counts only events between two dates.
	// +optional
	Between *DateRange `json:"between,omitempty"`

	// Count compares the number of matching events; without count or sum, one event is enough.
	// +optional
	Count *CountComparison `json:"count,omitempty"`

	// Sum compares the sum of a numeric property over matching events.
	// +optional
	Sum *SumComparison `json:"sum,omitempty"`

	// FirstPerformed tests when the first matching event happened.
	// +optional
	FirstPerformed *RelativeTime `json:"firstPerformed,omitempty"`

	// LastPerformed tests when the latest matching event happened.
	// +optional
	LastPerformed *RelativeTime `json:"lastPerformed,omitempty"`
}

// DateRange is a closed range of dates or times (RFC 3339 or YYYY-MM-DD). Two times are compared
// as instants, whatever their offsets; when either side is a date, the calendar dates as written
// are compared, because a date includes its whole day.
// +kubebuilder:validation:XValidation:rule="!self.from.matches('^[0-9]{4}-[0-9]{2}-[0-9]{2}') || !self.to.matches('^[0-9]{4}-[0-9]{2}-[0-9]{2}') || (self.from.matches('^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$') && self.to.matches('^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$') ? timestamp(self.from) <= timestamp(self.to) : self.from.substring(0, 10) <= self.to.substring(0, 10))",message="between.from must not be after between.to"
type DateRange struct {
	// From is the first date included.
	// +kubebuilder:validation:Pattern=`^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2}))?$`
	// +kubebuilder:validation:MaxLength=40
	// +required
	From string `json:"from"`

	// To is the last date included.
	// +kubebuilder:validation:Pattern=`^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2}))?$`
	// +kubebuilder:validation:MaxLength=40
	// +required
	To string `json:"to"`
}

// ComparisonOperator compares two numbers.
// +kubebuilder:validation:Enum=Equals;NotEquals;GreaterThan;GreaterThanOrEqual;LessThan;LessThanOrEqual
type ComparisonOperator string

// CountComparison compares a count.
type CountComparison struct {
	// Operator of the comparison.
	// +required
	Operator ComparisonOperator `json:"operator"`

	// Value compared with.
	// +kubebuilder:validation:Minimum=0
	// +required
	Value int64 `json:"value"`
}

// SumComparison compares the sum of a numeric event property.
type SumComparison struct {
	// Property summed, e.g. amount.
	// +required
	Property AttributeName `json:"property"`

	// Operator of the comparison.
	// +required
	Operator ComparisonOperator `json:"operator"`

	// Value compared with, as a decimal string ("50000").
	// +kubebuilder:validation:Pattern=`^-?[0-9]+(\.[0-9]+)?$`
	// +kubebuilder:validation:MaxLength=32
	// +required
	Value string `json:"value"`
}

// RelativeTime tests a moment against the current time.
// +kubebuilder:validation:XValidation:rule="has(self.within) != has(self.notWithin)",message="set exactly one of within and notWithin"
type RelativeTime struct {
	// Within matches a moment in the last duration.
	// +optional
	Within *Duration `json:"within,omitempty"`

	// NotWithin matches a moment longer ago than the duration.
	// +optional
	NotWithin *Duration `json:"notWithin,omitempty"`
}

// SegmentMembershipCondition tests membership of another segment.
type SegmentMembershipCondition struct {
	// Name of the Segment. Cycles (a segment that depends on itself) are rejected by the controller.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	// +required
	Name string `json:"name"`
}

// RFMCondition scores customers 1 (worst) to 5 (best) on recency, frequency and monetary value,
// by quintiles of the profiles that performed the event in the window, and tests the scores.
// +kubebuilder:validation:XValidation:rule="has(self.recency) || has(self.frequency) || has(self.monetary)",message="rfm must test at least one of recency, frequency and monetary"
// +kubebuilder:validation:XValidation:rule="has(self.monetary) ? has(self.amountProperty) : true",message="rfm.amountProperty is required to score monetary value"
type RFMCondition struct {
	// EventType is the purchase event, e.g. purchase.
	// +required
	EventType AttributeName `json:"eventType"`

	// AmountProperty is the numeric property holding the amount spent.
	// +optional
	AmountProperty AttributeName `json:"amountProperty,omitempty"`

	// Window of events considered. Defaults to 365d.
	// +optional
	Window *Duration `json:"window,omitempty"`

	// Recency score range.
	// +optional
	Recency *ScoreRange `json:"recency,omitempty"`

	// Frequency score range.
	// +optional
	Frequency *ScoreRange `json:"frequency,omitempty"`

	// Monetary score range.
	// +optional
	Monetary *ScoreRange `json:"monetary,omitempty"`
}

// ScoreRange is an inclusive range of RFM scores from 1 to 5.
// +kubebuilder:validation:XValidation:rule="self.min <= self.max",message="score range min must not be above max"
type ScoreRange struct {
	// Min score, 1 to 5.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=5
	// +required
	Min int32 `json:"min"`

	// Max score, 1 to 5.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=5
	// +required
	Max int32 `json:"max"`
}

// RandomBucketCondition puts each profile in one of 100 buckets by a hash of the salt and its
// profile ID, and matches the buckets from..to, so the same profiles are chosen at every
// evaluation.
// +kubebuilder:validation:XValidation:rule="self.from <= self.to",message="randomBucket.from must not be above randomBucket.to"
type RandomBucketCondition struct {
	// Salt makes different samples choose different profiles.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +required
	Salt string `json:"salt"`

	// From is the first bucket, 0 to 99.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=99
	// +required
	From int32 `json:"from"`

	// To is the last bucket, 0 to 99.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=99
	// +required
	To int32 `json:"to"`
}

// SegmentStatus reports the audience's size and its latest change.
type SegmentStatus struct {
	// ObservedGeneration is the generation of the spec the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, ReferencesResolved, SpecValid, and Evaluated once evaluations run.
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// Size is the number of members after the latest evaluation.
	// +optional
	Size int64 `json:"size,omitempty"`

	// Entered counts profiles that joined in the latest evaluation.
	// +optional
	Entered int64 `json:"entered,omitempty"`

	// Exited counts profiles that left in the latest evaluation.
	// +optional
	Exited int64 `json:"exited,omitempty"`

	// LastEvaluationTime is when the latest evaluation finished.
	// +optional
	LastEvaluationTime *metav1.Time `json:"lastEvaluationTime,omitempty"`

	// LastEvaluationDuration is how long the latest evaluation took.
	// +optional
	LastEvaluationDuration *metav1.Duration `json:"lastEvaluationDuration,omitempty"`

	// EvaluatedResolutionGeneration is the resolution's published generation the membership was
	// computed from.
	// +optional
	EvaluatedResolutionGeneration int64 `json:"evaluatedResolutionGeneration,omitempty"`
}

// Segment is an audience of profiles selected by attributes and behaviour.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=seg,categories=kizuna
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Size",type=integer,JSONPath=`.status.size`
// +kubebuilder:printcolumn:name="Entered",type=integer,JSONPath=`.status.entered`,priority=1
// +kubebuilder:printcolumn:name="Exited",type=integer,JSONPath=`.status.exited`,priority=1
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Evaluated",type=date,JSONPath=`.status.lastEvaluationTime`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Segment struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec SegmentSpec `json:"spec"`
	// +optional
	Status SegmentStatus `json:"status,omitempty"`
}

// SegmentList is a list of Segments.
// +kubebuilder:object:root=true
type SegmentList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Segment `json:"items"`
}
