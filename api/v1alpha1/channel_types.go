package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ChannelSpec declares a provider endpoint that campaigns deliver through. Its rate limit is
// shared by every campaign and every worker that uses the channel.
// +kubebuilder:validation:XValidation:rule="has(self.smtp) == (self.type == 'SMTP')",message="spec.smtp must be set when spec.type is SMTP, and only then"
// +kubebuilder:validation:XValidation:rule="has(self.webhook) == (self.type == 'Webhook')",message="spec.webhook must be set when spec.type is Webhook, and only then"
// +kubebuilder:validation:XValidation:rule="has(self.sms) == (self.type == 'SMS')",message="spec.sms must be set when spec.type is SMS, and only then"
// +kubebuilder:validation:XValidation:rule="has(self.line) == (self.type == 'LINE')",message="spec.line must be set when spec.type is LINE, and only then"
// +kubebuilder:validation:XValidation:rule="has(self.push) == (self.type == 'Push')",message="spec.push must be set when spec.type is Push, and only then"
type ChannelSpec struct {
	// Type of provider.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.type is immutable: create a new Channel instead"
	// +required
	Type ChannelType `json:"type"`

	// SMTP delivers email through an SMTP server.
	// +optional
	SMTP *SMTPChannel `json:"smtp,omitempty"`

	// Webhook posts JSON to a URL.
	// +optional
	Webhook *WebhookChannel `json:"webhook,omitempty"`

	// SMS sends text messages through an SMS provider.
	// +optional
	SMS *SMSChannel `json:"sms,omitempty"`

	// LINE pushes messages through the LINE Messaging API.
	// +optional
	LINE *LINEChannel `json:"line,omitempty"`

	// Push sends mobile push notifications through Firebase Cloud Messaging (HTTP v1).
	// +optional
	Push *PushChannel `json:"push,omitempty"`

	// RateLimit bounds how fast the channel sends, across all campaigns and workers.
	// +optional
	RateLimit *RateLimit `json:"rateLimit,omitempty"`
}

// TLSMode says how an SMTP connection is secured.
// +kubebuilder:validation:Enum=STARTTLS;TLS;None
type TLSMode string

const (
	TLSModeSTARTTLS TLSMode = "STARTTLS"
	TLSModeTLS      TLSMode = "TLS"
	TLSModeNone     TLSMode = "None"
)

// SMTPChannel is an SMTP server.
type SMTPChannel struct {
	// Host name of the SMTP server.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?$`
	// +required
	Host string `json:"host"`

	// Port of the SMTP server. Defaults to 587.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +kubebuilder:default=587
	// +optional
	Port int32 `json:"port,omitempty"`

	// TLS mode. Defaults to STARTTLS; None is for local test servers only.
	// +kubebuilder:default=STARTTLS
	// +optional
	TLS TLSMode `json:"tls,omitempty"`

	// AuthSecretRef names a Secret with the keys username and password.
	// +optional
	AuthSecretRef *LocalObjectReference `json:"authSecretRef,omitempty"`

	// From is the sender address.
	// +required
	From EmailAddress `json:"from"`

	// ReplyTo is the address replies go to.
	// +optional
	ReplyTo *EmailAddress `json:"replyTo,omitempty"`

	// MaxConnections bounds the pool of open SMTP connections per worker. Defaults to 4.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +kubebuilder:default=4
	// +optional
	MaxConnections int32 `json:"maxConnections,omitempty"`
}

// EmailAddress is an address with an optional display name.
type EmailAddress struct {
	// Address, e.g. news@example.co.jp.
	// +kubebuilder:validation:MaxLength=254
	// +kubebuilder:validation:Pattern=`^[^@\s]+@[^@\s]+\.[^@\s]+$`
	// +required
	Address string `json:"address"`

	// Name shown to the recipient, e.g. 絆ストア.
	// +kubebuilder:validation:MaxLength=128
	// +optional
	Name string `json:"name,omitempty"`
}

// WebhookChannel posts a JSON payload per message.
// +kubebuilder:validation:XValidation:rule="!has(self.headersSecretRef) || self.headersSecretRef.name != self.signingSecretRef.name",message="headersSecretRef must name another Secret than signingSecretRef: every key of it is sent as a header, the signing key included"
type WebhookChannel struct {
	// URL the payload is posted to. Put no credentials in it.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https']",message="url must be an absolute http:// or https:// URL"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[a-zA-Z]+://[^/]*@')",message="url must not contain credentials: use signingSecretRef or headersSecretRef"
	// +required
	URL string `json:"url"`

	// SigningSecretRef selects the key an HMAC-SHA256 signature of each body is computed with;
	// it is sent in the Kizuna-Signature header so the receiver can verify the sender.
	// +required
	SigningSecretRef SecretKeySelector `json:"signingSecretRef"`

	// HeadersSecretRef names a Secret whose keys and values are sent as extra HTTP headers
	// (an API key, for example).
	// +optional
	HeadersSecretRef *LocalObjectReference `json:"headersSecretRef,omitempty"`

	// Timeout of one request. Defaults to 10s.
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}

// SMSProvider is an SMS API.
// +kubebuilder:validation:Enum=Twilio;Vonage
type SMSProvider string

// SMSChannel sends text messages.
type SMSChannel struct {
	// Provider whose API is spoken.
	// +required
	Provider SMSProvider `json:"provider"`

	// From is the sender: a phone number in E.164 (+81...) or an alphanumeric sender ID.
	// +kubebuilder:validation:MaxLength=16
	// +kubebuilder:validation:Pattern=`^(\+[1-9][0-9]{6,14}|[A-Za-z0-9]{1,11})$`
	// +required
	From string `json:"from"`

	// CredentialsSecretRef names a Secret with the keys accountID and authToken (Twilio) or
	// apiKey and apiSecret (Vonage).
	// +required
	CredentialsSecretRef LocalObjectReference `json:"credentialsSecretRef"`

	// Endpoint overrides the provider's API base URL (for a regional endpoint or a test server).
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https']",message="endpoint must be an absolute http:// or https:// URL"
	// +optional
	Endpoint string `json:"endpoint,omitempty"`
}

// LINEChannel is a LINE Official Account.
type LINEChannel struct {
	// ChannelAccessTokenSecretRef selects the Messaging API channel access token.
	// +required
	ChannelAccessTokenSecretRef SecretKeySelector `json:"channelAccessTokenSecretRef"`

	// Endpoint overrides the Messaging API base URL (for a test server).
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https']",message="endpoint must be an absolute http:// or https:// URL"
	// +optional
	Endpoint string `json:"endpoint,omitempty"`
}

// PushChannel is a Firebase project.
type PushChannel struct {
	// ProjectID of the Firebase project.
	// +kubebuilder:validation:MinLength=6
	// +kubebuilder:validation:MaxLength=30
	// +kubebuilder:validation:Pattern=`^[a-z][a-z0-9-]*[a-z0-9]$`
	// +required
	ProjectID string `json:"projectID"`

	// ServiceAccountSecretRef selects a Google service-account JSON key allowed to send messages.
	// +required
	ServiceAccountSecretRef SecretKeySelector `json:"serviceAccountSecretRef"`

	// Endpoint overrides the FCM base URL (for a test server).
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https']",message="endpoint must be an absolute http:// or https:// URL"
	// +optional
	Endpoint string `json:"endpoint,omitempty"`
}

// RateLimit bounds sending: a token bucket of messagesPerSecond with room for burst, and at most
// maxConcurrency requests in flight.
// +kubebuilder:validation:XValidation:rule="!has(self.burst) || self.burst >= 1",message="rateLimit.burst must be at least 1"
type RateLimit struct {
	// The lower bound is an exclusive 0, not a fractional minimum such as 0.001: the API server
	// checks a whole-number value against a fractional minimum truncated to an integer, so a
	// minimum of 0.001 let 0 through.

	// MessagesPerSecond is the sustained rate, above 0, e.g. 10 or 0.5.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:ExclusiveMinimum=true
	// +kubebuilder:validation:Maximum=100000
	// +required
	MessagesPerSecond float64 `json:"messagesPerSecond"`

	// Burst is how many messages may go at once after a pause. Defaults to messagesPerSecond
	// rounded up.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100000
	// +optional
	Burst *int32 `json:"burst,omitempty"`

	// MaxConcurrency bounds requests in flight across all workers.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	// +optional
	MaxConcurrency *int32 `json:"maxConcurrency,omitempty"`
}

// ChannelStatus reports the channel's readiness and what it has delivered.
type ChannelStatus struct {
	// ObservedGeneration is the generation of the spec the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, ReferencesResolved, SpecValid.
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// MessagesSent counts the messages the provider accepted through this channel, over all
	// campaigns and runs of the namespace. The count belongs to the channel's name: a Channel
	// created again under the same name continues it.
	// +optional
	MessagesSent int64 `json:"messagesSent,omitempty"`

	// MessagesFailed counts the messages that failed for good through this channel: refused by
	// the provider, still failing after the last retry, or impossible to render.
	// +optional
	MessagesFailed int64 `json:"messagesFailed,omitempty"`

	// LastSendTime is when the provider last accepted a message through this channel.
	// +optional
	LastSendTime *metav1.Time `json:"lastSendTime,omitempty"`
}

// Channel is a provider endpoint campaigns deliver through: SMTP, webhook, SMS, LINE or push.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ch,categories=kizuna
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Sent",type=integer,JSONPath=`.status.messagesSent`
// +kubebuilder:printcolumn:name="Failed",type=integer,JSONPath=`.status.messagesFailed`,priority=1
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Channel struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec ChannelSpec `json:"spec"`
	// +optional
	Status ChannelStatus `json:"status,omitempty"`
}

// ChannelList is a list of Channels.
// +kubebuilder:object:root=true
type ChannelList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Channel `json:"items"`
}
