package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DataSourceType says whether a source holds customer records or behavioural events.
// +kubebuilder:validation:Enum=Records;Events
type DataSourceType string

// SyncRequestAnnotation asks for a sync now: set it to a new value (a time, say) and the controller
// starts a sync, as `kubectl annotate datasource crm cdp.kizuna.dev/sync-request="$(date +%s)"`.
const SyncRequestAnnotation = "cdp.kizuna.dev/sync-request"

const (
	// DataSourceRecords sources hold one row per customer record (a CRM contact, a business card).
	// Each sync is a snapshot: records missing from it are marked deleted.
	DataSourceRecords DataSourceType = "Records"
	// DataSourceEvents sources hold actions customers took (an order, a page view). Syncs append.
	DataSourceEvents DataSourceType = "Events"
)

// DataSourceSpec declares where records or events come from and how their columns map onto
// identifiers, attributes and event fields.
// +kubebuilder:validation:XValidation:rule="self.type == 'Records' ? has(self.recordKey) : true",message="spec.recordKey is required when spec.type is Records: name the column that identifies a record within this source"
// +kubebuilder:validation:XValidation:rule="self.type == 'Events' ? has(self.event) : !has(self.event)",message="spec.event is required when spec.type is Events and not allowed when spec.type is Records"
// +kubebuilder:validation:XValidation:rule="has(self.source.postgres) || has(self.source.collector) ? !has(self.format) : has(self.format)",message="spec.format is required for file sources (http, file, s3, configMap) and not allowed for postgres and collector sources"
// +kubebuilder:validation:XValidation:rule="has(self.source.collector) ? self.type == 'Events' : true",message="spec.source.collector only receives events: set spec.type to Events"
// +kubebuilder:validation:XValidation:rule="has(self.source.collector) ? !has(self.schedule) : true",message="spec.schedule is not allowed for a collector source: events arrive when they are sent"
type DataSourceSpec struct {
	// Type is Records for customer records or Events for behavioural events. It cannot change
	// once set: records and events are stored differently.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.type is immutable: create a new DataSource instead"
	// +required
	Type DataSourceType `json:"type"`

	// Source says where the data is read from.
	// +required
	Source SourceLocation `json:"source"`

	// Format of a file source.
	// +optional
	Format *FileFormat `json:"format,omitempty"`

	// RecordKey names the column whose value identifies a record within this source
	// (a CRM contact ID). Required for Records sources.
	// +optional
	RecordKey *ColumnRef `json:"recordKey,omitempty"`

	// Identifiers are the columns that identify the customer, used to merge records.
	// +kubebuilder:validation:MaxItems=32
	// +listType=map
	// +listMapKey=column
	// +optional
	Identifiers []IdentifierMapping `json:"identifiers,omitempty"`

	// Attributes are the columns copied onto the profile, with their types.
	// +kubebuilder:validation:MaxItems=256
	// +listType=map
	// +listMapKey=name
	// +optional
	Attributes []AttributeMapping `json:"attributes,omitempty"`

	// Event maps the columns of an Events source.
	// +optional
	Event *EventMapping `json:"event,omitempty"`

	// Schedule re-reads the source periodically. Without it, the source is read when it is
	// created and when its spec changes.
	// +optional
	Schedule *Schedule `json:"schedule,omitempty"`

	// MaxErrorRatio is the share of rows (0 to 1) that may be quarantined before a sync fails
	// and the previous data is kept. Defaults to 0.01.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1
	// +kubebuilder:default=0.01
	// +optional
	MaxErrorRatio *float64 `json:"maxErrorRatio,omitempty"`

	// Suspend stops scheduled syncs; data already loaded stays.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// SourceLocation is exactly one place data is read from.
// +kubebuilder:validation:XValidation:rule="[has(self.file), has(self.http), has(self.s3), has(self.configMap), has(self.postgres), has(self.collector)].filter(x, x).size() == 1",message="spec.source must set exactly one of file, http, s3, configMap, postgres or collector"
type SourceLocation struct {
	// File reads a path. In `kizuna run` a relative path is relative to the manifest's folder;
	// in a cluster it is a path in a volume mounted into the worker.
	// +optional
	File *FileLocation `json:"file,omitempty"`

	// HTTP downloads a URL. Unchanged files (same ETag or Last-Modified) are not read again.
	// +optional
	HTTP *HTTPLocation `json:"http,omitempty"`

	// S3 reads an object from S3-compatible object storage.
	// +optional
	S3 *S3Location `json:"s3,omitempty"`

	// ConfigMap reads one key of a ConfigMap: handy for small reference data and demos.
	// +optional
	ConfigMap *ConfigMapKeySelector `json:"configMap,omitempty"`

	// Postgres runs a query against a PostgreSQL database.
	// +optional
	Postgres *PostgresQuery `json:"postgres,omitempty"`

	// Collector receives events posted to Kizuna's HTTP event collector.
	// +optional
	Collector *CollectorSource `json:"collector,omitempty"`
}

// FileLocation is a file path.
type FileLocation struct {
	// Path of the file.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=4096
	// +required
	Path string `json:"path"`
}

// HTTPLocation is a file served over HTTP(S).
type HTTPLocation struct {
	// URL of the file, http:// or https://. Put no credentials in it: use authorizationSecretRef.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https']",message="url must be an absolute http:// or https:// URL"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[a-zA-Z]+://[^/]*@')",message="url must not contain credentials: put them in a Secret and set authorizationSecretRef"
	// +required
	URL string `json:"url"`

	// AuthorizationSecretRef selects a Secret key whose value is sent as the Authorization header,
	// for example "Bearer <token>".
	// +optional
	AuthorizationSecretRef *SecretKeySelector `json:"authorizationSecretRef,omitempty"`
}

// S3Location is an object in S3-compatible storage.
type S3Location struct {
	// Endpoint of an S3-compatible service; empty means AWS S3.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https']",message="endpoint must be an absolute http:// or https:// URL"
	// +optional
	Endpoint string `json:"endpoint,omitempty"`

	// Region of the bucket.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	Region string `json:"region,omitempty"`

	// Bucket name.
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9][a-z0-9.-]*[a-z0-9]$`
	// +required
	Bucket string `json:"bucket"`

	// Key of the object.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +required
	Key string `json:"key"`

	// CredentialsSecretRef names a Secret with the keys accessKeyID and secretAccessKey. Without
	// it, the worker's ambient credentials (IRSA, instance profile) are used.
	// +optional
	CredentialsSecretRef *LocalObjectReference `json:"credentialsSecretRef,omitempty"`
}

// PostgresQuery reads rows from a PostgreSQL query.
type PostgresQuery struct {
	// ConnectionSecretRef selects a Secret key holding a connection string
	// (postgres://user:password@host:5432/db?sslmode=require).
	// +required
	ConnectionSecretRef SecretKeySelector `json:"connectionSecretRef"`

	// Query is a SELECT statement. With cursorColumn set, it must use $1 for the last cursor value
	// read, so that each sync reads only new rows.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=16384
	// +required
	Query string `json:"query"`

	// CursorColumn is a column that only grows (an updated_at timestamp or a serial ID); the
	// largest value read is kept and passed as $1 on the next sync.
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[A-Za-z_][A-Za-z0-9_]*$`
	// +optional
	CursorColumn string `json:"cursorColumn,omitempty"`
}

// CollectorSource receives events over HTTP.
type CollectorSource struct {
	// WriteKeySecretRef selects a Secret key whose value clients must send as a bearer token.
	// +required
	WriteKeySecretRef SecretKeySelector `json:"writeKeySecretRef"`

	// AllowedOrigins are the browser origins allowed to post events (CORS).
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=255
	// +optional
	AllowedOrigins []string `json:"allowedOrigins,omitempty"`
}

// FileFormatType is the format of a file.
// +kubebuilder:validation:Enum=CSV;JSONLines;Parquet
type FileFormatType string

const (
	FormatCSV       FileFormatType = "CSV"
	FormatJSONLines FileFormatType = "JSONLines"
	FormatParquet   FileFormatType = "Parquet"
)

// FileFormat says how a file is parsed.
// +kubebuilder:validation:XValidation:rule="has(self.csv) ? self.type == 'CSV' : true",message="format.csv is only allowed when format.type is CSV"
type FileFormat struct {
	// Type of the file.
	// +required
	Type FileFormatType `json:"type"`

	// CSV options.
	// +optional
	CSV *CSVOptions `json:"csv,omitempty"`
}

// TextEncoding is the character encoding of a text file.
// +kubebuilder:validation:Enum=UTF8;ShiftJIS
type TextEncoding string

const (
	// EncodingUTF8 reads UTF-8, with or without a byte-order mark.
	EncodingUTF8 TextEncoding = "UTF8"
	// EncodingShiftJIS reads Shift_JIS with the CP932 (Windows-31J) extensions that Japanese Excel writes.
	EncodingShiftJIS TextEncoding = "ShiftJIS"
)

// CSVOptions configures CSV parsing.
type CSVOptions struct {
	// Delimiter between fields: one character. Defaults to a comma.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1
	// +kubebuilder:default=","
	// +optional
	Delimiter string `json:"delimiter,omitempty"`

	// Encoding of the file. Defaults to UTF8.
	// +kubebuilder:default=UTF8
	// +optional
	Encoding TextEncoding `json:"encoding,omitempty"`

	// TrimSpace removes leading and trailing white space (including U+3000) from every field.
	// +kubebuilder:default=true
	// +optional
	TrimSpace *bool `json:"trimSpace,omitempty"`
}

// ColumnRef names a column of the source (a CSV header, a JSON key, a query column).
type ColumnRef struct {
	// Column name.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	// +required
	Column string `json:"column"`
}

// IdentifierMapping maps a column onto an identifier.
// +kubebuilder:validation:XValidation:rule="self.type == 'Custom' ? has(self.name) : true",message="identifiers[].name is required when type is Custom: name the kind of identifier, for example member_no"
type IdentifierMapping struct {
	// Column holding the value.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	// +required
	Column string `json:"column"`

	// Type of identifier; it chooses the normaliser.
	// +required
	Type IdentifierType `json:"type"`

	// Name of a Custom identifier type. Records share a custom identifier only when the names match.
	// +optional
	Name AttributeName `json:"name,omitempty"`
}

// AttributeType is the type of an attribute or event property.
// +kubebuilder:validation:Enum=String;Number;Boolean;Date;Timestamp
type AttributeType string

const (
	AttributeString    AttributeType = "String"
	AttributeNumber    AttributeType = "Number"
	AttributeBoolean   AttributeType = "Boolean"
	AttributeDate      AttributeType = "Date"
	AttributeTimestamp AttributeType = "Timestamp"
)

// AttributeMapping maps a column onto a typed profile attribute or event property.
// +kubebuilder:validation:XValidation:rule="has(self.format) ? self.type in ['Date', 'Timestamp'] : true",message="format is only allowed for Date and Timestamp attributes"
// +kubebuilder:validation:XValidation:rule="has(self.timeZone) ? self.type == 'Timestamp' : true",message="timeZone is only allowed for Timestamp attributes"
type AttributeMapping struct {
	// Name of the attribute on the profile.
	// +required
	Name AttributeName `json:"name"`

	// Column holding the value. Defaults to the attribute's name.
	// +kubebuilder:validation:MaxLength=255
	// +optional
	Column string `json:"column,omitempty"`

	// Type of the value. Defaults to String.
	// +kubebuilder:default=String
	// +optional
	Type AttributeType `json:"type,omitempty"`

	// Format of a Date or Timestamp in Go's reference-time layout (2006-01-02, 2006/01/02 15:04),
	// or RFC3339. Defaults to RFC3339 for timestamps and 2006-01-02 for dates.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	Format string `json:"format,omitempty"`

	// TimeZone (IANA) of timestamps written without an offset. Defaults to UTC.
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^(UTC|[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2})$`
	// +optional
	TimeZone string `json:"timeZone,omitempty"`
}

// EventMapping maps the columns of an Events source.
// +kubebuilder:validation:XValidation:rule="has(self.type) != has(self.typeColumn)",message="spec.event must set exactly one of type (one event type for every row) or typeColumn"
type EventMapping struct {
	// Type is the event type of every row, for sources that hold one kind of event (orders).
	// +optional
	Type AttributeName `json:"type,omitempty"`

	// TypeColumn names the column holding each row's event type.
	// +kubebuilder:validation:MaxLength=255
	// +optional
	TypeColumn string `json:"typeColumn,omitempty"`

	// Timestamp is the column holding when the event happened.
	// +required
	Timestamp TimestampColumn `json:"timestamp"`

	// IDColumn holds a unique event ID used to drop duplicates. Without it, events are
	// deduplicated by their content.
	// +kubebuilder:validation:MaxLength=255
	// +optional
	IDColumn string `json:"idColumn,omitempty"`

	// Identifier links an event to a customer.
	// +required
	Identifier IdentifierMapping `json:"identifier"`

	// Properties are the columns kept with each event.
	// +kubebuilder:validation:MaxItems=128
	// +listType=map
	// +listMapKey=name
	// +optional
	Properties []AttributeMapping `json:"properties,omitempty"`
}

// TimestampColumn is a column holding a point in time.
type TimestampColumn struct {
	// Column name.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	// +required
	Column string `json:"column"`

	// Format in Go's reference-time layout, or RFC3339 (the default).
	// +kubebuilder:validation:MaxLength=64
	// +optional
	Format string `json:"format,omitempty"`

	// TimeZone (IANA) of timestamps written without an offset. Defaults to UTC.
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^(UTC|[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2})$`
	// +optional
	TimeZone string `json:"timeZone,omitempty"`
}

// SyncResult is the outcome of a sync.
// +kubebuilder:validation:Enum=Succeeded;Failed;Skipped
type SyncResult string

const (
	SyncResultSucceeded SyncResult = "Succeeded"
	SyncResultFailed    SyncResult = "Failed"
	// SyncResultSkipped: the source had not changed since the last sync.
	SyncResultSkipped SyncResult = "Skipped"
)

// SyncSummary describes one sync of a source.
type SyncSummary struct {
	// JobName is the sync Job, also the run's ID in the store.
	// +kubebuilder:validation:MaxLength=63
	// +optional
	JobName string `json:"jobName,omitempty"`

	// Result of the sync.
	// +optional
	Result SyncResult `json:"result,omitempty"`

	// Reason is a CamelCase word for the result: SyncSucceeded, NotModified, SyncFailed (the run
	// recorded why) or SyncJobFailed (the Job failed before it recorded a run).
	// +kubebuilder:validation:MaxLength=64
	// +optional
	Reason string `json:"reason,omitempty"`

	// Message says why a sync failed or was skipped.
	// +kubebuilder:validation:MaxLength=2048
	// +optional
	Message string `json:"message,omitempty"`

	// StartTime is when the sync started.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// CompletionTime is when the sync finished, successfully or not.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`

	// RowsRead counts the rows read from the source.
	// +optional
	RowsRead int64 `json:"rowsRead,omitempty"`

	// RowsLoaded counts the rows written to the store: inserted, updated or unchanged.
	// +optional
	RowsLoaded int64 `json:"rowsLoaded,omitempty"`

	// Inserted counts new records or events.
	// +optional
	Inserted int64 `json:"inserted,omitempty"`

	// Updated counts records whose content changed.
	// +optional
	Updated int64 `json:"updated,omitempty"`

	// RowsQuarantined counts the rows kept aside with the reason they could not be loaded.
	// +optional
	RowsQuarantined int64 `json:"rowsQuarantined,omitempty"`

	// RecordsDeleted counts the records missing from a snapshot and marked deleted.
	// +optional
	RecordsDeleted int64 `json:"recordsDeleted,omitempty"`

	// FirstErrors are the first quarantined rows, with their row numbers and reasons (at most 5;
	// `kizuna export quarantine` lists them all).
	// +kubebuilder:validation:MaxItems=5
	// +optional
	FirstErrors []RowError `json:"firstErrors,omitempty"`
}

// RowError is a row of the source that could not be loaded.
type RowError struct {
	// Row is the 1-based row number (the line number in a CSV or JSON Lines file).
	Row int64 `json:"row"`
	// Reason the row could not be loaded.
	// +kubebuilder:validation:MaxLength=512
	Reason string `json:"reason"`
}

// DataSourceStatus reports what the source holds and how its last sync went.
type DataSourceStatus struct {
	// ObservedGeneration is the generation of the spec the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, ReferencesResolved, SpecValid, Synced, and Syncing while a sync runs.
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// Records counts the live records (Records sources) or the events (Events sources) stored.
	// +optional
	Records int64 `json:"records,omitempty"`

	// ActiveJob is the sync Job running now.
	// +kubebuilder:validation:MaxLength=63
	// +optional
	ActiveJob string `json:"activeJob,omitempty"`

	// SyncCount counts the sync Jobs started; each Job carries its number.
	// +optional
	SyncCount int64 `json:"syncCount,omitempty"`

	// SyncGeneration is the generation of the spec the latest sync Job was started for.
	// +optional
	SyncGeneration int64 `json:"syncGeneration,omitempty"`

	// LastSyncRequest is the value of the cdp.kizuna.dev/sync-request annotation that the latest
	// requested sync was started for.
	// +kubebuilder:validation:MaxLength=256
	// +optional
	LastSyncRequest string `json:"lastSyncRequest,omitempty"`

	// LastScheduleTime is the latest scheduled time a sync was started for.
	// +optional
	LastScheduleTime *metav1.Time `json:"lastScheduleTime,omitempty"`

	// LastSync describes the latest finished sync.
	// +optional
	LastSync *SyncSummary `json:"lastSync,omitempty"`

	// LastSuccessfulSyncTime is when a sync last completed without failing.
	// +optional
	LastSuccessfulSyncTime *metav1.Time `json:"lastSuccessfulSyncTime,omitempty"`

	// NextSyncTime is when the schedule runs the next sync.
	// +optional
	NextSyncTime *metav1.Time `json:"nextSyncTime,omitempty"`
}

// DataSource declares where customer records or behavioural events come from.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ds,categories=kizuna
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Records",type=integer,JSONPath=`.status.records`
// +kubebuilder:printcolumn:name="Synced",type=string,JSONPath=`.status.conditions[?(@.type=="Synced")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Sync",type=string,JSONPath=`.status.conditions[?(@.type=="Synced")].reason`,priority=1
// +kubebuilder:printcolumn:name="Quarantined",type=integer,JSONPath=`.status.lastSync.rowsQuarantined`,priority=1
// +kubebuilder:printcolumn:name="Last Sync",type=date,JSONPath=`.status.lastSuccessfulSyncTime`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type DataSource struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec DataSourceSpec `json:"spec"`
	// +optional
	Status DataSourceStatus `json:"status,omitempty"`
}

// DataSourceList is a list of DataSources.
// +kubebuilder:object:root=true
type DataSourceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []DataSource `json:"items"`
}
