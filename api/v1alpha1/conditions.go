package v1alpha1

// Condition types shared by every kind. Ready summarises the others: it is True only when the
// spec is valid and everything the object references exists and is ready.
const (
	ConditionReady              = "Ready"
	ConditionReferencesResolved = "ReferencesResolved"
	ConditionSpecValid          = "SpecValid"

	// ConditionSynced (DataSource): the latest sync succeeded, or the source had not changed.
	ConditionSynced = "Synced"
	// ConditionSyncing (DataSource): a sync Job is running.
	ConditionSyncing = "Syncing"

	// ConditionResolved (IdentityResolution): the latest run succeeded (published, or a dry run).
	ConditionResolved = "Resolved"
	// ConditionResolving (IdentityResolution): a resolution Job is running, or why none can.
	ConditionResolving = "Resolving"

	// ConditionEvaluated (Segment): the latest evaluation succeeded, or why none ran.
	ConditionEvaluated = "Evaluated"

	// ConditionRunning (Campaign): a delivery Job is running, or why none is.
	ConditionRunning = "Running"
)

// Reasons of a Campaign's Running condition.
const (
	ReasonDelivering     = "Delivering"
	ReasonNotDelivering  = "Idle"
	ReasonRunSuspended   = "Suspended"
	ReasonDeliveryFailed = "DeliveryJobFailed"
	// ReasonRunMissed: a scheduled run came later than spec.startingDeadline allows and was skipped.
	ReasonRunMissed = "RunMissed"
	// ReasonWaitingForEvents: an event-triggered run is due, but a sync of an Events DataSource
	// that began before its time is still writing events the run must see.
	ReasonWaitingForEvents = "WaitingForEvents"
)

// Reasons of a Segment's Evaluated condition.
const (
	ReasonEvaluated        = "Evaluated"
	ReasonEvaluationFailed = "EvaluationFailed"
	// ReasonWaitingForProfiles: the resolution has published no profiles yet.
	ReasonWaitingForProfiles = "WaitingForProfiles"
	// ReasonWaitingForSegments: a segment the rule refers to has not been evaluated on the
	// resolution's latest profiles yet. Evaluating before it would record entries and exits
	// that its evaluation would then undo.
	ReasonWaitingForSegments = "WaitingForSegments"
	// ReasonSegmentNotReady: the segment itself is not Ready (see the Ready condition).
	ReasonSegmentNotReady = "NotReady"
)

// Reasons of an IdentityResolution's Resolved and Resolving conditions.
const (
	ReasonPublished           = "Published"
	ReasonDryRun              = "DryRun"
	ReasonResolutionFailed    = "ResolutionFailed"
	ReasonResolutionJobFailed = "ResolutionJobFailed"
	ReasonNeverResolved       = "NeverResolved"

	ReasonResolutionRunning   = "ResolutionRunning"
	ReasonNoResolutionRunning = "Idle"
	// ReasonWaitingForSources: a source has not synced successfully yet.
	ReasonWaitingForSources = "WaitingForSources"
	// ReasonResolutionNotReady: the resolution itself is not Ready (see the Ready condition).
	ReasonResolutionNotReady = "NotReady"
)

// Reasons of the conditions. A reason is a CamelCase word a program can match on; the message
// beside it says what is wrong and what to do.
const (
	ReasonReady    = "Ready"
	ReasonResolved = "Resolved"
	ReasonValid    = "Valid"

	// ReasonReferenceNotReady: a referenced object exists but is not Ready itself.
	ReasonReferenceNotReady = "ReferenceNotReady"

	ReasonSecretNotFound             = "SecretNotFound"
	ReasonSecretKeyNotFound          = "SecretKeyNotFound"
	ReasonConfigMapNotFound          = "ConfigMapNotFound"
	ReasonConfigMapKeyNotFound       = "ConfigMapKeyNotFound"
	ReasonDataSourceNotFound         = "DataSourceNotFound"
	ReasonIdentityResolutionNotFound = "IdentityResolutionNotFound"
	ReasonSegmentNotFound            = "SegmentNotFound"
	ReasonChannelNotFound            = "ChannelNotFound"
	ReasonDeliveryPolicyNotFound     = "DeliveryPolicyNotFound"

	ReasonInvalidSchedule           = "InvalidSchedule"
	ReasonInvalidTimeZone           = "InvalidTimeZone"
	ReasonInvalidTemplate           = "InvalidTemplate"
	ReasonTemplateIncomplete        = "TemplateIncomplete"
	ReasonSegmentCycle              = "SegmentCycle"
	ReasonSegmentResolutionMismatch = "SegmentResolutionMismatch"

	// ReasonInvalidEventFilter: a campaign's spec.trigger.event.where names an event property
	// that no Events DataSource declares, or compares it in a way its type does not allow.
	ReasonInvalidEventFilter = "InvalidEventFilter"

	// Sync outcomes (DataSource Synced and Syncing).
	ReasonSyncSucceeded = "SyncSucceeded"
	ReasonNotModified   = "NotModified"
	ReasonSyncFailed    = "SyncFailed"
	ReasonSyncJobFailed = "SyncJobFailed"
	ReasonNeverSynced   = "NeverSynced"
	ReasonSyncRunning   = "SyncRunning"
	ReasonNoSyncRunning = "Idle"
	ReasonSyncSuspended = "Suspended"
)
