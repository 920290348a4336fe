package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DefaultDeliveryPolicyName is the DeliveryPolicy that applies to campaigns of its namespace that
// name no policy.
const DefaultDeliveryPolicyName = "default"

// DeliveryPolicySpec declares the rules that protect recipients across all campaigns of a
// namespace: how often they may be contacted, when, and only with their consent.
type DeliveryPolicySpec struct {
	// FrequencyCaps bound how many messages one profile receives in a period, across campaigns.
	// +kubebuilder:validation:MaxItems=16
	// +listType=map
	// +listMapKey=name
	// +optional
	FrequencyCaps []FrequencyCap `json:"frequencyCaps,omitempty"`

	// QuietHours hold messages back at night in the recipient's own time zone; held messages are
	// deferred to the next allowed time.
	// +optional
	QuietHours *QuietHours `json:"quietHours,omitempty"`

	// Consent lists which channels and purposes need the recipient's recorded opt-in.
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Consent []ConsentRequirement `json:"consent,omitempty"`

	// Suppression says which events stop further messages to an address.
	// +optional
	Suppression Suppression `json:"suppression,omitempty"`
}

// FrequencyCap allows at most maxMessages per profile in any period.
type FrequencyCap struct {
	// Name of the cap, reported when it holds a message back.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +required
	Name string `json:"name"`

	// MaxMessages in the period.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	// +required
	MaxMessages int32 `json:"maxMessages"`

	// Period over which messages are counted, e.g. 7d.
	// +required
	Period Duration `json:"period"`

	// ChannelTypes the cap counts; empty counts every channel together.
	// +kubebuilder:validation:MaxItems=5
	// +listType=set
	// +optional
	ChannelTypes []ChannelType `json:"channelTypes,omitempty"`

	// Purpose the cap applies to. Defaults to Marketing: receipts and password resets are not capped.
	// +kubebuilder:default=Marketing
	// +optional
	Purpose Purpose `json:"purpose,omitempty"`
}

// Weekday is a day of the week.
// +kubebuilder:validation:Enum=Monday;Tuesday;Wednesday;Thursday;Friday;Saturday;Sunday
type Weekday string

// QuietHours is a daily window in which nothing is sent.
// +kubebuilder:validation:XValidation:rule="self.start != self.end",message="quietHours.start and quietHours.end must differ"
type QuietHours struct {
	// Start of the quiet window, HH:MM in the recipient's time zone, e.g. 21:00.
	// +kubebuilder:validation:Pattern=`^([01][0-9]|2[0-3]):[0-5][0-9]$`
	// +required
	Start string `json:"start"`

	// End of the quiet window, HH:MM, e.g. 09:00. A window may cross midnight.
	// +kubebuilder:validation:Pattern=`^([01][0-9]|2[0-3]):[0-5][0-9]$`
	// +required
	End string `json:"end"`

	// AllowedDays are the days on which messages may be sent; empty allows every day.
	// +kubebuilder:validation:MaxItems=7
	// +listType=set
	// +optional
	AllowedDays []Weekday `json:"allowedDays,omitempty"`

	// TimeZoneAttribute is the profile attribute holding the recipient's IANA time zone.
	// Defaults to timezone.
	// +kubebuilder:default=timezone
	// +optional
	TimeZoneAttribute AttributeName `json:"timeZoneAttribute,omitempty"`

	// DefaultTimeZone applies to recipients without a time zone. Defaults to Asia/Tokyo.
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^(UTC|[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2})$`
	// +kubebuilder:default=Asia/Tokyo
	// +optional
	DefaultTimeZone string `json:"defaultTimeZone,omitempty"`

	// Purposes the window applies to. Defaults to Marketing.
	// +kubebuilder:validation:MaxItems=2
	// +listType=set
	// +kubebuilder:default={Marketing}
	// +optional
	Purposes []Purpose `json:"purposes,omitempty"`
}

// ConsentMode is how consent is read.
// +kubebuilder:validation:Enum=OptIn;OptOut
type ConsentMode string

const (
	// ConsentOptIn sends only to recipients with a recorded opt-in.
	ConsentOptIn ConsentMode = "OptIn"
	// ConsentOptOut sends unless the recipient opted out.
	ConsentOptOut ConsentMode = "OptOut"
)

// ConsentRequirement is the consent needed for a channel type and purpose.
type ConsentRequirement struct {
	// ChannelType the requirement applies to.
	// +required
	ChannelType ChannelType `json:"channelType"`

	// Purpose the requirement applies to.
	// +required
	Purpose Purpose `json:"purpose"`

	// Mode: OptIn needs a recorded yes; OptOut sends unless the recipient said no.
	// +required
	Mode ConsentMode `json:"mode"`

	// Attribute is the boolean profile attribute that records the consent, e.g. email_opt_in.
	// Consent recorded through the unsubscribe endpoint always wins over it.
	// +optional
	Attribute AttributeName `json:"attribute,omitempty"`
}

// Suppression says which signals stop messages to an address. All default to true.
type Suppression struct {
	// HardBounces suppress an address the provider reported as non-existent.
	// +kubebuilder:default=true
	// +optional
	HardBounces *bool `json:"hardBounces,omitempty"`

	// Complaints suppress an address whose owner marked a message as spam.
	// +kubebuilder:default=true
	// +optional
	Complaints *bool `json:"complaints,omitempty"`

	// SoftBounceLimit suppresses an address after this many soft bounces in a row; 0 never does.
	// Defaults to 5.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +kubebuilder:default=5
	// +optional
	SoftBounceLimit *int32 `json:"softBounceLimit,omitempty"`
}

// DeliveryPolicyStatus reports whether the policy is usable, and what the caps and quiet hours of
// the namespace held back.
type DeliveryPolicyStatus struct {
	// ObservedGeneration is the generation of the spec the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, SpecValid.
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// Capped counts the messages this policy's frequency caps held back, over all campaigns,
	// runs and channels that sent under it. The count belongs to the policy's name: a
	// DeliveryPolicy created again under the same name continues it.
	// +optional
	Capped int64 `json:"capped,omitempty"`

	// Deferred counts the times this policy's quiet hours moved a message to a later time (a
	// message deferred twice counts twice), over all campaigns, runs and channels.
	// +optional
	Deferred int64 `json:"deferred,omitempty"`
}

// DeliveryPolicy holds the frequency caps, quiet hours and consent rules of a namespace. The
// policy named "default" applies to campaigns that name none.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=dp,categories=kizuna
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Capped",type=integer,JSONPath=`.status.capped`
// +kubebuilder:printcolumn:name="Deferred",type=integer,JSONPath=`.status.deferred`,priority=1
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type DeliveryPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +optional
	Spec DeliveryPolicySpec `json:"spec,omitempty"`
	// +optional
	Status DeliveryPolicyStatus `json:"status,omitempty"`
}

// DeliveryPolicyList is a list of DeliveryPolicies.
// +kubebuilder:object:root=true
type DeliveryPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []DeliveryPolicy `json:"items"`
}
