package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// IdentityResolutionSpec declares how records of one customer, spread over several sources and
// spelled differently in each, are merged into one profile (名寄せ).
// +kubebuilder:validation:XValidation:rule="has(self.deterministic) || has(self.probabilistic)",message="spec must set deterministic rules, probabilistic rules, or both: without rules no records are merged"
// +kubebuilder:validation:XValidation:rule="has(self.profileIDPrefix) == has(oldSelf.profileIDPrefix)",message="spec.profileIDPrefix is immutable: it cannot be added or removed after creation, because profile IDs already issued keep their prefix"
type IdentityResolutionSpec struct {
	// Sources are the Records DataSources whose records are merged. Events need not be listed:
	// an event reaches a profile through its identifier, whichever source it comes from.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +listType=map
	// +listMapKey=name
	// +required
	Sources []ResolutionSource `json:"sources"`

	// Normalization configures how identifiers are normalised before they are compared.
	// +optional
	Normalization Normalization `json:"normalization,omitempty"`

	// Deterministic rules link records that share normalised identifiers.
	// +kubebuilder:validation:MaxItems=32
	// +listType=map
	// +listMapKey=name
	// +optional
	Deterministic []DeterministicRule `json:"deterministic,omitempty"`

	// Probabilistic matching links records without a shared key by scoring how alike they are.
	// +optional
	Probabilistic *ProbabilisticMatching `json:"probabilistic,omitempty"`

	// Survivorship chooses, per attribute, which source record's value the profile shows.
	// +optional
	Survivorship Survivorship `json:"survivorship,omitempty"`

	// ProfileIDPrefix is put before every profile ID this resolution mints, e.g. "cus_". It
	// cannot change: profile IDs are referenced by memberships, ledgers and other systems.
	// +kubebuilder:validation:MaxLength=16
	// +kubebuilder:validation:Pattern=`^[a-z][a-z0-9]*_?$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.profileIDPrefix is immutable: profile IDs already issued keep their prefix"
	// +optional
	ProfileIDPrefix string `json:"profileIDPrefix,omitempty"`

	// Schedule runs the resolution periodically. Without it, a run starts when a source syncs.
	// +optional
	Schedule *Schedule `json:"schedule,omitempty"`

	// DryRun computes the merges and splits a run would make and reports them in status without
	// publishing profiles.
	// +optional
	DryRun bool `json:"dryRun,omitempty"`
}

// ResolutionSource is a DataSource taking part in a resolution.
type ResolutionSource struct {
	// Name of the DataSource.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	// +required
	Name string `json:"name"`

	// Priority for the SourcePriority survivorship strategy: higher wins. Defaults to 0; ties
	// go to the source listed first.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	// +optional
	Priority int32 `json:"priority,omitempty"`
}

// Normalization configures identifier normalisers.
type Normalization struct {
	// DefaultRegion is the ISO 3166-1 alpha-2 region used to read phone numbers written without
	// a country code. Defaults to JP.
	// +kubebuilder:validation:Pattern=`^[A-Z]{2}$`
	// +kubebuilder:default=JP
	// +optional
	DefaultRegion string `json:"defaultRegion,omitempty"`

	// ExtraLegalForms are further company legal forms to strip from company names, in addition
	// to the built-in ones (株式会社, 有限会社, 合同会社, 一般社団法人, Inc., Co., Ltd., ...).
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=64
	// +optional
	ExtraLegalForms []string `json:"extraLegalForms,omitempty"`
}

// DeterministicRule links records whose normalised identifiers of every listed type are equal.
// +kubebuilder:validation:XValidation:rule="!self.identifiers.exists(i, i == 'Custom') || has(self.customName)",message="customName is required when identifiers has Custom: name which custom identifier the rule compares, e.g. member_no"
// +kubebuilder:validation:XValidation:rule="!has(self.customName) || self.identifiers.exists(i, i == 'Custom')",message="customName is only allowed when identifiers has Custom"
type DeterministicRule struct {
	// Name of the rule, reported in explanations.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +required
	Name string `json:"name"`

	// Identifiers that must all be equal: [Email] alone, or [CompanyName, PersonName] together.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=4
	// +kubebuilder:validation:XValidation:rule="self.all(x, self.exists_one(y, y == x))",message="identifiers must not repeat a type"
	// +required
	Identifiers []IdentifierType `json:"identifiers"`

	// CustomName selects which Custom identifier the rule compares, when identifiers has Custom.
	// +optional
	CustomName AttributeName `json:"customName,omitempty"`

	// MaxRecordsPerValue ignores a value shared by more records than this (a reception desk's
	// phone, test@example.com) and reports it in status. Defaults to 20.
	// +kubebuilder:validation:Minimum=2
	// +kubebuilder:validation:Maximum=100000
	// +kubebuilder:default=20
	// +optional
	MaxRecordsPerValue int32 `json:"maxRecordsPerValue,omitempty"`
}

// ProbabilisticMatching scores candidate pairs with Fellegi-Sunter weights estimated by EM.
type ProbabilisticMatching struct {
	// Blocking rules choose which pairs are compared: only records equal on every field of at
	// least one rule become candidates.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +listType=map
	// +listMapKey=name
	// +required
	Blocking []BlockingRule `json:"blocking"`

	// Comparisons score how alike two records are, one field at a time.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +listType=map
	// +listMapKey=name
	// +required
	Comparisons []Comparison `json:"comparisons"`

	// MatchThreshold is the match probability (0 to 1) above which a pair is linked.
	// Defaults to 0.95.
	// +kubebuilder:validation:ExclusiveMinimum=true
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:ExclusiveMaximum=true
	// +kubebuilder:validation:Maximum=1
	// +kubebuilder:default=0.95
	// +optional
	MatchThreshold *float64 `json:"matchThreshold,omitempty"`

	// TermFrequencyAdjustment makes agreement on a rare value (an unusual surname) count for more
	// than agreement on a common one.
	// +optional
	TermFrequencyAdjustment bool `json:"termFrequencyAdjustment,omitempty"`

	// MaxIterations bounds the EM estimation. Defaults to 25.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	// +kubebuilder:default=25
	// +optional
	MaxIterations int32 `json:"maxIterations,omitempty"`
}

// BlockingRule makes candidate pairs of records that agree on every listed field.
type BlockingRule struct {
	// Name of the rule.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +required
	Name string `json:"name"`

	// Fields that must be equal. A field is an attribute name or an identifier type
	// (identifier.Email).
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=4
	// +required
	Fields []FieldPath `json:"fields"`
}

// FieldPath is an attribute name (postcode) or an identifier type (identifier.Phone).
// +kubebuilder:validation:Pattern=`^([a-z][a-z0-9_]{0,62}|identifier\.(Email|Phone|CustomerID|CompanyName|PersonName|PostalCode|LineUserID|DeviceToken|Custom))$`
// +kubebuilder:validation:MaxLength=64
type FieldPath string

// ComparisonLevelType is a way of comparing two values.
// +kubebuilder:validation:Enum=Exact;JaroWinkler;Levenshtein;NumericDifference;DateDifference
type ComparisonLevelType string

const (
	LevelExact             ComparisonLevelType = "Exact"
	LevelJaroWinkler       ComparisonLevelType = "JaroWinkler"
	LevelLevenshtein       ComparisonLevelType = "Levenshtein"
	LevelNumericDifference ComparisonLevelType = "NumericDifference"
	LevelDateDifference    ComparisonLevelType = "DateDifference"
)

// Comparison compares one field of two records through ordered levels, from the most to the
// least similar; a pair falls into the first level it satisfies, or into "else" when none fits.
// A null on either side is always its own level.
type Comparison struct {
	// Name of the comparison, reported in explanations.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +required
	Name string `json:"name"`

	// Field compared.
	// +required
	Field FieldPath `json:"field"`

	// Levels from the most to the least similar. Defaults suit the field's type.
	// +kubebuilder:validation:MaxItems=8
	// +optional
	Levels []ComparisonLevel `json:"levels,omitempty"`
}

// ComparisonLevel is one level of a comparison.
// +kubebuilder:validation:XValidation:rule="self.type == 'JaroWinkler' ? has(self.threshold) : !has(self.threshold)",message="threshold is required for JaroWinkler levels and not allowed for other types"
// +kubebuilder:validation:XValidation:rule="self.type == 'Levenshtein' ? has(self.maxDistance) : !has(self.maxDistance)",message="maxDistance is required for Levenshtein levels and not allowed for other types"
// +kubebuilder:validation:XValidation:rule="self.type in ['NumericDifference', 'DateDifference'] ? has(self.tolerance) : !has(self.tolerance)",message="tolerance is required for NumericDifference and DateDifference levels and not allowed for other types"
type ComparisonLevel struct {
	// Type of comparison.
	// +required
	Type ComparisonLevelType `json:"type"`

	// Threshold of Jaro-Winkler similarity (0 to 1) at or above which the level matches.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1
	// +optional
	Threshold *float64 `json:"threshold,omitempty"`

	// MaxDistance is the Levenshtein edit distance at or below which the level matches.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10
	// +optional
	MaxDistance *int32 `json:"maxDistance,omitempty"`

	// Tolerance is the largest difference that matches: a number for NumericDifference, a
	// duration such as 30d for DateDifference.
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?|[1-9][0-9]{0,5}(m|h|d|w))$`
	// +optional
	Tolerance string `json:"tolerance,omitempty"`
}

// SurvivorshipStrategy picks one value for a profile attribute among its source records.
// +kubebuilder:validation:Enum=MostRecent;SourcePriority;MostFrequent;FirstNonEmpty
type SurvivorshipStrategy string

const (
	SurvivorshipMostRecent     SurvivorshipStrategy = "MostRecent"
	SurvivorshipSourcePriority SurvivorshipStrategy = "SourcePriority"
	SurvivorshipMostFrequent   SurvivorshipStrategy = "MostFrequent"
	SurvivorshipFirstNonEmpty  SurvivorshipStrategy = "FirstNonEmpty"
)

// Survivorship configures how attribute values are chosen.
type Survivorship struct {
	// Default strategy for attributes not listed. Defaults to MostRecent.
	// +kubebuilder:default=MostRecent
	// +optional
	Default SurvivorshipStrategy `json:"default,omitempty"`

	// Attributes with their own strategy.
	// +kubebuilder:validation:MaxItems=256
	// +listType=map
	// +listMapKey=name
	// +optional
	Attributes []AttributeSurvivorship `json:"attributes,omitempty"`
}

// AttributeSurvivorship is the strategy of one attribute.
type AttributeSurvivorship struct {
	// Name of the attribute.
	// +required
	Name AttributeName `json:"name"`

	// Strategy for the attribute.
	// +required
	Strategy SurvivorshipStrategy `json:"strategy"`
}

// IgnoredIdentifierValue is an identifier value shared by too many records to link on.
type IgnoredIdentifierValue struct {
	// Type of the identifier.
	Type IdentifierType `json:"type"`

	// Value, masked to its first and last characters so that status carries no personal data.
	// +kubebuilder:validation:MaxLength=64
	Value string `json:"value"`

	// Records sharing the value.
	Records int64 `json:"records"`
}

// ResolutionRunSummary describes one resolution run.
type ResolutionRunSummary struct {
	// StartTime is when the run started.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// CompletionTime is when the run finished.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`

	// Records read by the run.
	// +optional
	Records int64 `json:"records,omitempty"`

	// Profiles the run produced.
	// +optional
	Profiles int64 `json:"profiles,omitempty"`

	// Merges counts profiles that absorbed at least one existing profile.
	// +optional
	Merges int64 `json:"merges,omitempty"`

	// Splits counts existing profiles whose records were divided.
	// +optional
	Splits int64 `json:"splits,omitempty"`

	// NewProfiles counts profiles minted by the run.
	// +optional
	NewProfiles int64 `json:"newProfiles,omitempty"`

	// DryRun is true when the run was not published.
	// +optional
	DryRun bool `json:"dryRun,omitempty"`
}

// IdentityResolutionStatus reports the published profiles and the latest run.
type IdentityResolutionStatus struct {
	// ObservedGeneration is the generation of the spec the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, ReferencesResolved, SpecValid, Resolved (the latest run) and Resolving
	// (a run in progress, or why none can start).
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// PublishedGeneration is the store generation of the profiles readers see; 0 until the
	// first run is published. Once it is set, sources can be added but not removed.
	// +optional
	PublishedGeneration int64 `json:"publishedGeneration,omitempty"`

	// Profiles counts the published profiles.
	// +optional
	Profiles int64 `json:"profiles,omitempty"`

	// Records counts the source records behind the published profiles.
	// +optional
	Records int64 `json:"records,omitempty"`

	// LastRun describes the latest run.
	// +optional
	LastRun *ResolutionRunSummary `json:"lastRun,omitempty"`

	// IgnoredValues lists identifier values shared by too many records to link on (at most 20).
	// +kubebuilder:validation:MaxItems=20
	// +optional
	IgnoredValues []IgnoredIdentifierValue `json:"ignoredValues,omitempty"`
}

// IdentityResolution merges the records of one customer from several sources into one profile.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=idr,categories=kizuna
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Profiles",type=integer,JSONPath=`.status.profiles`
// +kubebuilder:printcolumn:name="Records",type=integer,JSONPath=`.status.records`,priority=1
// +kubebuilder:printcolumn:name="Generation",type=integer,JSONPath=`.status.publishedGeneration`,priority=1
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.status) || !has(oldSelf.status.publishedGeneration) || oldSelf.status.publishedGeneration == 0 || oldSelf.spec.sources.all(o, self.spec.sources.exists(n, n.name == o.name))",message="spec.sources: a source cannot be removed once profiles have been published (status.publishedGeneration > 0), because published profiles are built from its records; add sources freely, or create a new IdentityResolution"
type IdentityResolution struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec IdentityResolutionSpec `json:"spec"`
	// +optional
	Status IdentityResolutionStatus `json:"status,omitempty"`
}

// IdentityResolutionList is a list of IdentityResolutions.
// +kubebuilder:object:root=true
type IdentityResolutionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []IdentityResolution `json:"items"`
}
