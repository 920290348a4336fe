package v1alpha1

// LocalObjectReference names another object in the same namespace.
type LocalObjectReference struct {
	// Name of the referenced object.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	// +required
	Name string `json:"name"`
}

// SecretKeySelector selects one key of a Secret in the same namespace. Credentials are only ever
// read from Secrets, never written in a spec.
type SecretKeySelector struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	// +required
	Name string `json:"name"`

	// Key within the Secret's data.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	// +required
	Key string `json:"key"`
}

// ConfigMapKeySelector selects one key of a ConfigMap in the same namespace.
type ConfigMapKeySelector struct {
	// Name of the ConfigMap.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	// +required
	Name string `json:"name"`

	// Key within the ConfigMap's data or binaryData.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	// +required
	Key string `json:"key"`
}

// Schedule runs work periodically, in a named time zone so that "every day at 9:00" means 9:00
// where the marketing team works, not in the cluster's zone.
type Schedule struct {
	// Cron is a five-field cron expression (minute hour day-of-month month day-of-week), or a
	// descriptor such as @daily or @every 1h. Its meaning is checked by the controller.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=100
	// +kubebuilder:validation:XValidation:rule="self.startsWith('@') || self.trim().split(' ').filter(f, f != '').size() == 5",message="cron must have five fields (minute hour day-of-month month day-of-week) or be a descriptor such as @daily"
	// +required
	Cron string `json:"cron"`

	// TimeZone is the IANA name of the zone the cron expression is read in, e.g. Asia/Tokyo.
	// Defaults to UTC.
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^(UTC|[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2})$`
	// +optional
	TimeZone string `json:"timeZone,omitempty"`
}

// Duration is a length of time written as a whole number and a unit: m (minutes), h (hours),
// d (days) or w (weeks), for example 30m, 24h, 90d or 2w. Days are calendar days of 24 hours.
// +kubebuilder:validation:Pattern=`^[1-9][0-9]{0,5}(m|h|d|w)$`
// +kubebuilder:validation:MaxLength=8
type Duration string

// IdentifierType is the kind of value that identifies a customer. Each type has its own
// normaliser (see docs/identity.md).
// +kubebuilder:validation:Enum=Email;Phone;CustomerID;CompanyName;PersonName;PostalCode;LineUserID;DeviceToken;Custom
type IdentifierType string

const (
	IdentifierEmail       IdentifierType = "Email"
	IdentifierPhone       IdentifierType = "Phone"
	IdentifierCustomerID  IdentifierType = "CustomerID"
	IdentifierCompanyName IdentifierType = "CompanyName"
	IdentifierPersonName  IdentifierType = "PersonName"
	IdentifierPostalCode  IdentifierType = "PostalCode"
	IdentifierLineUserID  IdentifierType = "LineUserID"
	IdentifierDeviceToken IdentifierType = "DeviceToken"
	IdentifierCustom      IdentifierType = "Custom"
)

// AttributeName names a profile attribute or an event property: lower-case letters, digits and
// underscores, starting with a letter. Nested paths join names with dots.
// +kubebuilder:validation:Pattern=`^[a-z][a-z0-9_]{0,62}(\.[a-z][a-z0-9_]{0,62}){0,3}$`
// +kubebuilder:validation:MaxLength=255
type AttributeName string

// ChannelType is the kind of provider a Channel delivers through.
// +kubebuilder:validation:Enum=SMTP;Webhook;SMS;LINE;Push
type ChannelType string

const (
	ChannelSMTP    ChannelType = "SMTP"
	ChannelWebhook ChannelType = "Webhook"
	ChannelSMS     ChannelType = "SMS"
	ChannelLINE    ChannelType = "LINE"
	ChannelPush    ChannelType = "Push"
)

// Purpose says why a message is sent. Frequency caps and consent rules apply per purpose:
// transactional messages (a receipt) are not counted against marketing caps.
// +kubebuilder:validation:Enum=Marketing;Transactional
type Purpose string

const (
	PurposeMarketing     Purpose = "Marketing"
	PurposeTransactional Purpose = "Transactional"
)
