package admission

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// invalidCase is a manifest the API server must reject, with where and why.
type invalidCase struct {
	name string
	// manifest is a Kizuna object without apiVersion and metadata, which the test adds.
	manifest string
	// field is the path the error must name, e.g. spec.source.http.url.
	field string
	// message is a fragment of the human message the error must carry.
	message string
}

// Each manifest is valid but for the one mistake its case is named after; the test checks that
// the API server reports exactly one problem, so a manifest cannot pass for the wrong reason.
var invalidCases = []invalidCase{
	// DataSource
	{
		name: "DataSource type outside the enum",
		manifest: `
kind: DataSource
spec:
  type: Contacts
  source:
    http:
      url: https://crm.example.com/contacts.csv
  format:
    type: CSV
  recordKey:
    column: id
`,
		field:   "spec.type",
		message: `Unsupported value: "Contacts"`,
	},
	{
		name: "DataSource without source",
		manifest: `
kind: DataSource
spec:
  type: Events
  event:
    type: purchase
    timestamp:
      column: ordered_at
    identifier:
      column: email
      type: Email
`,
		field:   "spec.source",
		message: "Required value",
	},
	{
		name: "DataSource source with two locations",
		manifest: `
kind: DataSource
spec:
  type: Records
  source:
    http:
      url: https://crm.example.com/contacts.csv
    s3:
      bucket: crm-exports
      key: contacts.csv
  format:
    type: CSV
  recordKey:
    column: id
`,
		field:   "spec.source",
		message: "spec.source must set exactly one of file, http, s3, configMap, postgres or collector",
	},
	{
		name: "DataSource source with no location",
		manifest: `
kind: DataSource
spec:
  type: Records
  source: {}
  format:
    type: CSV
  recordKey:
    column: id
`,
		field:   "spec.source",
		message: "spec.source must set exactly one of file, http, s3, configMap, postgres or collector",
	},
	{
		name: "DataSource http url with another scheme",
		manifest: `
kind: DataSource
spec:
  type: Records
  source:
    http:
      url: ftp://crm.example.com/contacts.csv
  format:
    type: CSV
  recordKey:
    column: id
`,
		field:   "spec.source.http.url",
		message: "url must be an absolute http:// or https:// URL",
	},
	{
		name: "DataSource http url that is relative",
		manifest: `
kind: DataSource
spec:
  type: Records
  source:
    http:
      url: /exports/contacts.csv
  format:
    type: CSV
  recordKey:
    column: id
`,
		field:   "spec.source.http.url",
		message: "url must be an absolute http:// or https:// URL",
	},
	{
		name: "DataSource http url with credentials",
		manifest: `
kind: DataSource
spec:
  type: Records
  source:
    http:
      url: https://export:s3cret@crm.example.com/contacts.csv
  format:
    type: CSV
  recordKey:
    column: id
`,
		field:   "spec.source.http.url",
		message: "url must not contain credentials: put them in a Secret and set authorizationSecretRef",
	},
	{
		name: "DataSource Records without recordKey",
		manifest: `
kind: DataSource
spec:
  type: Records
  source:
    http:
      url: https://crm.example.com/contacts.csv
  format:
    type: CSV
`,
		field:   "spec.recordKey",
		message: "spec.recordKey is required when spec.type is Records",
	},
	{
		name: "DataSource Events without event mapping",
		manifest: `
kind: DataSource
spec:
  type: Events
  source:
    postgres:
      connectionSecretRef:
        name: ec-db
        key: url
      query: SELECT * FROM orders WHERE id > $1
      cursorColumn: id
`,
		field:   "spec.event",
		message: "spec.event is required when spec.type is Events and not allowed when spec.type is Records",
	},
	{
		name: "DataSource Records with an event mapping",
		manifest: `
kind: DataSource
spec:
  type: Records
  source:
    http:
      url: https://crm.example.com/contacts.csv
  format:
    type: CSV
  recordKey:
    column: id
  event:
    type: purchase
    timestamp:
      column: ordered_at
    identifier:
      column: email
      type: Email
`,
		field:   "spec.event",
		message: "spec.event is required when spec.type is Events and not allowed when spec.type is Records",
	},
	{
		name: "DataSource postgres with a file format",
		manifest: `
kind: DataSource
spec:
  type: Events
  source:
    postgres:
      connectionSecretRef:
        name: ec-db
        key: url
      query: SELECT * FROM orders
  format:
    type: CSV
  event:
    type: purchase
    timestamp:
      column: ordered_at
    identifier:
      column: email
      type: Email
`,
		field:   "spec.format",
		message: "not allowed for postgres and collector sources",
	},
	{
		name: "DataSource file source without format",
		manifest: `
kind: DataSource
spec:
  type: Records
  source:
    file:
      path: data/contacts.csv
  recordKey:
    column: id
`,
		field:   "spec.format",
		message: "spec.format is required for file sources (http, file, s3, configMap)",
	},
	{
		name: "DataSource collector of records",
		manifest: `
kind: DataSource
spec:
  type: Records
  source:
    collector:
      writeKeySecretRef:
        name: web-collector
        key: writeKey
  recordKey:
    column: id
`,
		field:   "spec.source.collector",
		message: "spec.source.collector only receives events: set spec.type to Events",
	},
	{
		name: "DataSource collector with a schedule",
		manifest: `
kind: DataSource
spec:
  type: Events
  source:
    collector:
      writeKeySecretRef:
        name: web-collector
        key: writeKey
  event:
    typeColumn: event
    timestamp:
      column: timestamp
    identifier:
      column: email
      type: Email
  schedule:
    cron: "0 * * * *"
`,
		field:   "spec.schedule",
		message: "spec.schedule is not allowed for a collector source",
	},
	{
		name: "DataSource csv options on a JSON Lines file",
		manifest: `
kind: DataSource
spec:
  type: Records
  source:
    s3:
      bucket: ma-exports
      key: leads.jsonl
  format:
    type: JSONLines
    csv:
      encoding: UTF8
  recordKey:
    column: lead_id
`,
		field:   "spec.format",
		message: "format.csv is only allowed when format.type is CSV",
	},
	{
		name: "DataSource csv encoding outside the enum",
		manifest: `
kind: DataSource
spec:
  type: Records
  source:
    configMap:
      name: business-cards
      key: cards.csv
  format:
    type: CSV
    csv:
      encoding: EUC-JP
  recordKey:
    column: card_id
`,
		field:   "spec.format.csv.encoding",
		message: `Unsupported value: "EUC-JP"`,
	},
	{
		name: "DataSource csv delimiter of two characters",
		manifest: `
kind: DataSource
spec:
  type: Records
  source:
    configMap:
      name: business-cards
      key: cards.csv
  format:
    type: CSV
    csv:
      delimiter: ";;"
  recordKey:
    column: card_id
`,
		field:   "spec.format.csv.delimiter",
		message: "may not be more than 1",
	},
	{
		name: "DataSource maxErrorRatio above 1",
		manifest: `
kind: DataSource
spec:
  type: Records
  source:
    http:
      url: https://crm.example.com/contacts.csv
  format:
    type: CSV
  recordKey:
    column: id
  maxErrorRatio: 1.5
`,
		field:   "spec.maxErrorRatio",
		message: "should be less than or equal to 1",
	},
	{
		name: "DataSource cron with six fields",
		manifest: `
kind: DataSource
spec:
  type: Records
  source:
    http:
      url: https://crm.example.com/contacts.csv
  format:
    type: CSV
  recordKey:
    column: id
  schedule:
    cron: "0 0 2 * * *"
    timeZone: Asia/Tokyo
`,
		field:   "spec.schedule.cron",
		message: "cron must have five fields (minute hour day-of-month month day-of-week)",
	},
	{
		name: "DataSource schedule time zone written as an offset",
		manifest: `
kind: DataSource
spec:
  type: Records
  source:
    http:
      url: https://crm.example.com/contacts.csv
  format:
    type: CSV
  recordKey:
    column: id
  schedule:
    cron: "0 2 * * *"
    timeZone: "+09:00"
`,
		field:   "spec.schedule.timeZone",
		message: "should match",
	},
	{
		name: "DataSource Custom identifier without a name",
		manifest: `
kind: DataSource
spec:
  type: Records
  source:
    http:
      url: https://crm.example.com/contacts.csv
  format:
    type: CSV
  recordKey:
    column: id
  identifiers:
    - column: member_no
      type: Custom
`,
		field:   "spec.identifiers[0]",
		message: "identifiers[].name is required when type is Custom",
	},
	{
		name: "DataSource identifier type outside the enum",
		manifest: `
kind: DataSource
spec:
  type: Records
  source:
    http:
      url: https://crm.example.com/contacts.csv
  format:
    type: CSV
  recordKey:
    column: id
  identifiers:
    - column: fax
      type: Fax
`,
		field:   "spec.identifiers[0].type",
		message: `Unsupported value: "Fax"`,
	},
	{
		name: "DataSource attribute name in camel case",
		manifest: `
kind: DataSource
spec:
  type: Records
  source:
    http:
      url: https://crm.example.com/contacts.csv
  format:
    type: CSV
  recordKey:
    column: id
  attributes:
    - name: lastName
`,
		field:   "spec.attributes[0].name",
		message: "should match",
	},
	{
		name: "DataSource attribute names repeated",
		manifest: `
kind: DataSource
spec:
  type: Records
  source:
    http:
      url: https://crm.example.com/contacts.csv
  format:
    type: CSV
  recordKey:
    column: id
  attributes:
    - name: last_name
    - name: last_name
      column: sei
`,
		field:   "spec.attributes[1]",
		message: "Duplicate value",
	},
	{
		name: "DataSource date format on a string attribute",
		manifest: `
kind: DataSource
spec:
  type: Records
  source:
    http:
      url: https://crm.example.com/contacts.csv
  format:
    type: CSV
  recordKey:
    column: id
  attributes:
    - name: prefecture
      format: "2006-01-02"
`,
		field:   "spec.attributes[0]",
		message: "format is only allowed for Date and Timestamp attributes",
	},
	{
		name: "DataSource time zone on a date attribute",
		manifest: `
kind: DataSource
spec:
  type: Records
  source:
    http:
      url: https://crm.example.com/contacts.csv
  format:
    type: CSV
  recordKey:
    column: id
  attributes:
    - name: birth_date
      type: Date
      timeZone: Asia/Tokyo
`,
		field:   "spec.attributes[0]",
		message: "timeZone is only allowed for Timestamp attributes",
	},
	{
		name: "DataSource event with both type and typeColumn",
		manifest: `
kind: DataSource
spec:
  type: Events
  source:
    collector:
      writeKeySecretRef:
        name: web-collector
        key: writeKey
  event:
    type: page_view
    typeColumn: event
    timestamp:
      column: timestamp
    identifier:
      column: email
      type: Email
`,
		field:   "spec.event",
		message: "spec.event must set exactly one of type (one event type for every row) or typeColumn",
	},
	{
		name: "DataSource postgres cursor column with a hyphen",
		manifest: `
kind: DataSource
spec:
  type: Events
  source:
    postgres:
      connectionSecretRef:
        name: ec-db
        key: url
      query: SELECT * FROM orders WHERE "ordered-at" > $1
      cursorColumn: ordered-at
  event:
    type: purchase
    timestamp:
      column: ordered-at
    identifier:
      column: email
      type: Email
`,
		field:   "spec.source.postgres.cursorColumn",
		message: "should match",
	},
	{
		name: "DataSource s3 bucket in upper case",
		manifest: `
kind: DataSource
spec:
  type: Records
  source:
    s3:
      bucket: MA-Exports
      key: leads.jsonl
  format:
    type: JSONLines
  recordKey:
    column: lead_id
`,
		field:   "spec.source.s3.bucket",
		message: "should match",
	},
	{
		name: "DataSource s3 endpoint without a scheme",
		manifest: `
kind: DataSource
spec:
  type: Records
  source:
    s3:
      endpoint: minio.example.com:9000
      bucket: ma-exports
      key: leads.jsonl
  format:
    type: JSONLines
  recordKey:
    column: lead_id
`,
		field:   "spec.source.s3.endpoint",
		message: "endpoint must be an absolute http:// or https:// URL",
	},

	// IdentityResolution
	{
		name: "IdentityResolution without rules",
		manifest: `
kind: IdentityResolution
spec:
  sources:
    - name: crm-contacts
`,
		field:   "spec",
		message: "spec must set deterministic rules, probabilistic rules, or both",
	},
	{
		name: "IdentityResolution Custom rule without customName",
		manifest: `
kind: IdentityResolution
spec:
  sources:
    - name: crm-contacts
  deterministic:
    - name: member-number
      identifiers: [Custom]
`,
		field:   "spec.deterministic[0]",
		message: "customName is required when identifiers has Custom",
	},
	{
		name: "IdentityResolution customName without Custom",
		manifest: `
kind: IdentityResolution
spec:
  sources:
    - name: crm-contacts
  deterministic:
    - name: email
      identifiers: [Email]
      customName: member_no
`,
		field:   "spec.deterministic[0]",
		message: "customName is only allowed when identifiers has Custom",
	},
	{
		name: "IdentityResolution without sources",
		manifest: `
kind: IdentityResolution
spec:
  sources: []
  deterministic:
    - name: email
      identifiers: [Email]
`,
		field:   "spec.sources",
		message: "should have at least 1 items",
	},
	{
		name: "IdentityResolution source priority above 1000",
		manifest: `
kind: IdentityResolution
spec:
  sources:
    - name: crm-contacts
      priority: 1001
  deterministic:
    - name: email
      identifiers: [Email]
`,
		field:   "spec.sources[0].priority",
		message: "should be less than or equal to 1000",
	},
	{
		name: "IdentityResolution profile ID prefix with a hyphen",
		manifest: `
kind: IdentityResolution
spec:
  profileIDPrefix: cus-
  sources:
    - name: crm-contacts
  deterministic:
    - name: email
      identifiers: [Email]
`,
		field:   "spec.profileIDPrefix",
		message: "should match",
	},
	{
		name: "IdentityResolution default region in lower case",
		manifest: `
kind: IdentityResolution
spec:
  sources:
    - name: crm-contacts
  normalization:
    defaultRegion: jp
  deterministic:
    - name: email
      identifiers: [Email]
`,
		field:   "spec.normalization.defaultRegion",
		message: "should match",
	},
	{
		name: "IdentityResolution deterministic rule repeating a type",
		manifest: `
kind: IdentityResolution
spec:
  sources:
    - name: crm-contacts
  deterministic:
    - name: email
      identifiers: [Email, Email]
`,
		field:   "spec.deterministic[0].identifiers",
		message: "identifiers must not repeat a type",
	},
	{
		name: "IdentityResolution deterministic rule with an unknown type",
		manifest: `
kind: IdentityResolution
spec:
  sources:
    - name: crm-contacts
  deterministic:
    - name: fax
      identifiers: [Fax]
`,
		field:   "spec.deterministic[0].identifiers[0]",
		message: `Unsupported value: "Fax"`,
	},
	{
		name: "IdentityResolution maxRecordsPerValue below 2",
		manifest: `
kind: IdentityResolution
spec:
  sources:
    - name: crm-contacts
  deterministic:
    - name: phone
      identifiers: [Phone]
      maxRecordsPerValue: 1
`,
		field:   "spec.deterministic[0].maxRecordsPerValue",
		message: "should be greater than or equal to 2",
	},
	{
		name: "IdentityResolution match threshold of 1",
		manifest: `
kind: IdentityResolution
spec:
  sources:
    - name: crm-contacts
  probabilistic:
    blocking:
      - name: postal-code
        fields: [identifier.PostalCode]
    comparisons:
      - name: person-name
        field: identifier.PersonName
    matchThreshold: 1
`,
		field:   "spec.probabilistic.matchThreshold",
		message: "should be less than 1",
	},
	{
		name: "IdentityResolution blocking on an unknown identifier type",
		manifest: `
kind: IdentityResolution
spec:
  sources:
    - name: crm-contacts
  probabilistic:
    blocking:
      - name: fax
        fields: [identifier.Fax]
    comparisons:
      - name: person-name
        field: identifier.PersonName
`,
		field:   "spec.probabilistic.blocking[0].fields[0]",
		message: "should match",
	},
	{
		name: "IdentityResolution JaroWinkler level without threshold",
		manifest: `
kind: IdentityResolution
spec:
  sources:
    - name: crm-contacts
  probabilistic:
    blocking:
      - name: postal-code
        fields: [identifier.PostalCode]
    comparisons:
      - name: person-name
        field: identifier.PersonName
        levels:
          - type: Exact
          - type: JaroWinkler
`,
		field:   "spec.probabilistic.comparisons[0].levels[1]",
		message: "threshold is required for JaroWinkler levels and not allowed for other types",
	},
	{
		name: "IdentityResolution Exact level with maxDistance",
		manifest: `
kind: IdentityResolution
spec:
  sources:
    - name: crm-contacts
  probabilistic:
    blocking:
      - name: postal-code
        fields: [identifier.PostalCode]
    comparisons:
      - name: company-name
        field: identifier.CompanyName
        levels:
          - type: Exact
            maxDistance: 2
`,
		field:   "spec.probabilistic.comparisons[0].levels[0]",
		message: "maxDistance is required for Levenshtein levels and not allowed for other types",
	},
	{
		name: "IdentityResolution DateDifference tolerance in words",
		manifest: `
kind: IdentityResolution
spec:
  sources:
    - name: crm-contacts
  probabilistic:
    blocking:
      - name: postal-code
        fields: [identifier.PostalCode]
    comparisons:
      - name: birth-date
        field: birth_date
        levels:
          - type: DateDifference
            tolerance: 1 month
`,
		field:   "spec.probabilistic.comparisons[0].levels[0].tolerance",
		message: "should match",
	},
	{
		name: "IdentityResolution survivorship strategy outside the enum",
		manifest: `
kind: IdentityResolution
spec:
  sources:
    - name: crm-contacts
  deterministic:
    - name: email
      identifiers: [Email]
  survivorship:
    attributes:
      - name: last_name
        strategy: Newest
`,
		field:   "spec.survivorship.attributes[0].strategy",
		message: `Unsupported value: "Newest"`,
	},

	// Segment
	{
		name: "Segment rule without a condition",
		manifest: `
kind: Segment
spec:
  resolutionRef:
    name: customers
  rule: {}
`,
		field:   "spec.rule",
		message: "a rule must set exactly one of all, any, not, attribute, identifier, event, segment, rfm or randomBucket",
	},
	{
		name: "Segment rule with two conditions",
		manifest: `
kind: Segment
spec:
  resolutionRef:
    name: customers
  rule:
    attribute:
      path: prefecture
      operator: Equals
      value: 東京都
    identifier:
      type: Email
`,
		field:   "spec.rule",
		message: "a rule must set exactly one of all, any, not, attribute, identifier, event, segment, rfm or randomBucket",
	},
	{
		name: "Segment nested group with two conditions",
		manifest: `
kind: Segment
spec:
  resolutionRef:
    name: customers
  rule:
    all:
      - identifier:
          type: Email
        segment:
          name: high-value
`,
		field:   "spec.rule.all[0]",
		message: "a rule must set exactly one of all, any, not, attribute, identifier, event, segment, rfm or randomBucket",
	},
	{
		name: "Segment group nested below the third level",
		manifest: `
kind: Segment
spec:
  resolutionRef:
    name: customers
  rule:
    all:
      - any:
          - all:
              - identifier:
                  type: Email
`,
		field:   "spec.rule.all[0].any[0]",
		message: "groups cannot nest deeper",
	},
	{
		name: "Segment empty group",
		manifest: `
kind: Segment
spec:
  resolutionRef:
    name: customers
  rule:
    any: []
`,
		field:   "spec.rule.any",
		message: "should have at least 1 items",
	},
	{
		name: "Segment operator outside the enum",
		manifest: `
kind: Segment
spec:
  resolutionRef:
    name: customers
  rule:
    attribute:
      path: prefecture
      operator: Like
      value: 東京%
`,
		field:   "spec.rule.attribute.operator",
		message: `Unsupported value: "Like"`,
	},
	{
		name: "Segment Between with one value",
		manifest: `
kind: Segment
spec:
  resolutionRef:
    name: customers
  rule:
    attribute:
      path: age
      operator: Between
      values: ["30"]
`,
		field:   "spec.rule.attribute",
		message: "Between takes exactly two values: the lower and the upper bound",
	},
	{
		name: "Segment Between with value instead of values",
		manifest: `
kind: Segment
spec:
  resolutionRef:
    name: customers
  rule:
    attribute:
      path: age
      operator: Between
      value: "30"
`,
		field:   "spec.rule.attribute",
		message: "In, NotIn and Between take values (a list), not value",
	},
	{
		name: "Segment date range from after to across offsets",
		manifest: `
kind: Segment
spec:
  resolutionRef:
    name: customers
  rule:
    event:
      type: purchase
      between:
        from: "2026-03-31T12:00:00+09:00"
        to: "2026-03-31T02:00:00Z"
`,
		field:   "spec.rule.event.between",
		message: "between.from must not be after between.to",
	},
	{
		name: "Segment In with value instead of values",
		manifest: `
kind: Segment
spec:
  resolutionRef:
    name: customers
  rule:
    attribute:
      path: prefecture
      operator: In
      value: 東京都
`,
		field:   "spec.rule.attribute",
		message: "In, NotIn and Between take values (a list), not value",
	},
	{
		name: "Segment Exists with a value",
		manifest: `
kind: Segment
spec:
  resolutionRef:
    name: customers
  rule:
    attribute:
      path: birth_date
      operator: Exists
      value: "true"
`,
		field:   "spec.rule.attribute",
		message: "Exists, NotExists and AnniversaryThisMonth take no value, values or duration",
	},
	{
		name: "Segment Equals without value",
		manifest: `
kind: Segment
spec:
  resolutionRef:
    name: customers
  rule:
    attribute:
      path: customer_rank
      operator: Equals
`,
		field:   "spec.rule.attribute",
		message: "this operator takes one value, not values",
	},
	{
		name: "Segment WithinLast without duration",
		manifest: `
kind: Segment
spec:
  resolutionRef:
    name: customers
  rule:
    attribute:
      path: registered_at
      operator: WithinLast
`,
		field:   "spec.rule.attribute",
		message: "WithinLast, NotWithinLast and AnniversaryWithinNext take a duration (e.g. 30d) and no value",
	},
	{
		name: "Segment duration on an operator that takes none",
		manifest: `
kind: Segment
spec:
  resolutionRef:
    name: customers
  rule:
    attribute:
      path: customer_rank
      operator: Equals
      value: gold
      duration: 30d
`,
		field:   "spec.rule.attribute",
		message: "other operators take no duration",
	},
	{
		name: "Segment duration in words",
		manifest: `
kind: Segment
spec:
  resolutionRef:
    name: customers
  rule:
    attribute:
      path: registered_at
      operator: WithinLast
      duration: 30 days
`,
		field:   "spec.rule.attribute.duration",
		message: "should match",
	},
	{
		name: "Segment event with within and between",
		manifest: `
kind: Segment
spec:
  resolutionRef:
    name: customers
  rule:
    event:
      type: purchase
      within: 90d
      between:
        from: "2026-01-01"
        to: "2026-03-31"
`,
		field:   "spec.rule.event",
		message: "event: set at most one of within and between",
	},
	{
		name: "Segment event with count and sum",
		manifest: `
kind: Segment
spec:
  resolutionRef:
    name: customers
  rule:
    event:
      type: purchase
      count:
        operator: GreaterThanOrEqual
        value: 2
      sum:
        property: amount
        operator: GreaterThan
        value: "50000"
`,
		field:   "spec.rule.event",
		message: "event: set at most one of count and sum",
	},
	{
		name: "Segment date range from after to",
		manifest: `
kind: Segment
spec:
  resolutionRef:
    name: customers
  rule:
    event:
      type: purchase
      between:
        from: "2026-12-01"
        to: "2026-11-30"
`,
		field:   "spec.rule.event.between",
		message: "between.from must not be after between.to",
	},
	{
		name: "Segment time with a space instead of T",
		manifest: `
kind: Segment
spec:
  resolutionRef:
    name: customers
  rule:
    event:
      type: purchase
      between:
        from: "2026-01-01 09:00"
        to: "2026-03-31"
`,
		field:   "spec.rule.event.between.from",
		message: "should match",
	},
	{
		name: "Segment sum value with a unit",
		manifest: `
kind: Segment
spec:
  resolutionRef:
    name: customers
  rule:
    event:
      type: purchase
      sum:
        property: amount
        operator: GreaterThan
        value: 5万
`,
		field:   "spec.rule.event.sum.value",
		message: "should match",
	},
	{
		name: "Segment lastPerformed without within or notWithin",
		manifest: `
kind: Segment
spec:
  resolutionRef:
    name: customers
  rule:
    event:
      type: purchase
      lastPerformed: {}
`,
		field:   "spec.rule.event.lastPerformed",
		message: "set exactly one of within and notWithin",
	},
	{
		name: "Segment rfm without scores",
		manifest: `
kind: Segment
spec:
  resolutionRef:
    name: customers
  rule:
    rfm:
      eventType: purchase
      amountProperty: amount
`,
		field:   "spec.rule.rfm",
		message: "rfm must test at least one of recency, frequency and monetary",
	},
	{
		name: "Segment rfm monetary without amountProperty",
		manifest: `
kind: Segment
spec:
  resolutionRef:
    name: customers
  rule:
    rfm:
      eventType: purchase
      monetary:
        min: 4
        max: 5
`,
		field:   "spec.rule.rfm",
		message: "rfm.amountProperty is required to score monetary value",
	},
	{
		name: "Segment rfm score range upside down",
		manifest: `
kind: Segment
spec:
  resolutionRef:
    name: customers
  rule:
    rfm:
      eventType: purchase
      recency:
        min: 4
        max: 2
`,
		field:   "spec.rule.rfm.recency",
		message: "score range min must not be above max",
	},
	{
		name: "Segment rfm score above 5",
		manifest: `
kind: Segment
spec:
  resolutionRef:
    name: customers
  rule:
    rfm:
      eventType: purchase
      frequency:
        min: 4
        max: 6
`,
		field:   "spec.rule.rfm.frequency.max",
		message: "should be less than or equal to 5",
	},
	{
		name: "Segment random bucket upside down",
		manifest: `
kind: Segment
spec:
  resolutionRef:
    name: customers
  rule:
    randomBucket:
      salt: sample-2026
      from: 50
      to: 10
`,
		field:   "spec.rule.randomBucket",
		message: "randomBucket.from must not be above randomBucket.to",
	},
	{
		name: "Segment resolutionRef in upper case",
		manifest: `
kind: Segment
spec:
  resolutionRef:
    name: Customers
  rule:
    identifier:
      type: Email
`,
		field:   "spec.resolutionRef.name",
		message: "should match",
	},

	// Channel
	{
		name: "Channel type outside the enum",
		manifest: `
kind: Channel
spec:
  type: Email
`,
		field:   "spec.type",
		message: `Unsupported value: "Email"`,
	},
	{
		name: "Channel SMTP without smtp settings",
		manifest: `
kind: Channel
spec:
  type: SMTP
`,
		field:   "spec",
		message: "spec.smtp must be set when spec.type is SMTP, and only then",
	},
	{
		name: "Channel SMTP with LINE settings too",
		manifest: `
kind: Channel
spec:
  type: SMTP
  smtp:
    host: smtp.example.com
    from:
      address: news@example.com
  line:
    channelAccessTokenSecretRef:
      name: line-messaging-api
      key: channelAccessToken
`,
		field:   "spec",
		message: "spec.line must be set when spec.type is LINE, and only then",
	},
	{
		name: "Channel SMTP port above 65535",
		manifest: `
kind: Channel
spec:
  type: SMTP
  smtp:
    host: smtp.example.com
    port: 70000
    from:
      address: news@example.com
`,
		field:   "spec.smtp.port",
		message: "should be less than or equal to 65535",
	},
	{
		name: "Channel SMTP tls mode outside the enum",
		manifest: `
kind: Channel
spec:
  type: SMTP
  smtp:
    host: smtp.example.com
    tls: SSL
    from:
      address: news@example.com
`,
		field:   "spec.smtp.tls",
		message: `Unsupported value: "SSL"`,
	},
	{
		name: "Channel SMTP sender without an at sign",
		manifest: `
kind: Channel
spec:
  type: SMTP
  smtp:
    host: smtp.example.com
    from:
      address: news.example.com
      name: 絆ストア
`,
		field:   "spec.smtp.from.address",
		message: "should match",
	},
	{
		name: "Channel webhook url with credentials",
		manifest: `
kind: Channel
spec:
  type: Webhook
  webhook:
    url: https://kizuna:s3cret@hooks.example.com/messages
    signingSecretRef:
      name: crm-webhook
      key: signingKey
`,
		field:   "spec.webhook.url",
		message: "url must not contain credentials: use signingSecretRef or headersSecretRef",
	},
	{
		name: "Channel webhook headers from the signing key's Secret",
		manifest: `
kind: Channel
spec:
  type: Webhook
  webhook:
    url: https://hooks.example.com/messages
    signingSecretRef:
      name: crm-webhook
      key: signingKey
    headersSecretRef:
      name: crm-webhook
`,
		field:   "spec.webhook",
		message: "headersSecretRef must name another Secret than signingSecretRef",
	},
	{
		name: "Channel webhook url without a scheme",
		manifest: `
kind: Channel
spec:
  type: Webhook
  webhook:
    url: hooks.example.com/messages
    signingSecretRef:
      name: crm-webhook
      key: signingKey
`,
		field:   "spec.webhook.url",
		message: "url must be an absolute http:// or https:// URL",
	},
	{
		name: "Channel webhook without signing secret",
		manifest: `
kind: Channel
spec:
  type: Webhook
  webhook:
    url: https://hooks.example.com/messages
`,
		field:   "spec.webhook.signingSecretRef",
		message: "Required value",
	},
	{
		name: "Channel webhook secret key with a slash",
		manifest: `
kind: Channel
spec:
  type: Webhook
  webhook:
    url: https://hooks.example.com/messages
    signingSecretRef:
      name: crm-webhook
      key: keys/signing
`,
		field:   "spec.webhook.signingSecretRef.key",
		message: "should match",
	},
	{
		name: "Channel SMS sender in national format",
		manifest: `
kind: Channel
spec:
  type: SMS
  sms:
    provider: Twilio
    from: 050-1234-5678
    credentialsSecretRef:
      name: twilio-credentials
`,
		field:   "spec.sms.from",
		message: "should match",
	},
	{
		name: "Channel SMS provider outside the enum",
		manifest: `
kind: Channel
spec:
  type: SMS
  sms:
    provider: Nexmo
    from: "+815012345678"
    credentialsSecretRef:
      name: twilio-credentials
`,
		field:   "spec.sms.provider",
		message: `Unsupported value: "Nexmo"`,
	},
	{
		name: "Channel LINE endpoint with another scheme",
		manifest: `
kind: Channel
spec:
  type: LINE
  line:
    channelAccessTokenSecretRef:
      name: line-messaging-api
      key: channelAccessToken
    endpoint: ws://line-mock.example.com
`,
		field:   "spec.line.endpoint",
		message: "endpoint must be an absolute http:// or https:// URL",
	},
	{
		name: "Channel push project ID too short",
		manifest: `
kind: Channel
spec:
  type: Push
  push:
    projectID: app
    serviceAccountSecretRef:
      name: firebase-app
      key: service-account.json
`,
		field:   "spec.push.projectID",
		message: "should be at least 6 chars long",
	},
	{
		name: "Channel rate limit of zero",
		manifest: `
kind: Channel
spec:
  type: LINE
  line:
    channelAccessTokenSecretRef:
      name: line-messaging-api
      key: channelAccessToken
  rateLimit:
    messagesPerSecond: 0
`,
		field:   "spec.rateLimit.messagesPerSecond",
		message: "should be greater than 0",
	},

	// DeliveryPolicy
	{
		name: "DeliveryPolicy quiet hours start without leading zero",
		manifest: `
kind: DeliveryPolicy
spec:
  quietHours:
    start: "9:00"
    end: "21:00"
`,
		field:   "spec.quietHours.start",
		message: "should match",
	},
	{
		name: "DeliveryPolicy quiet hours end at 24:00",
		manifest: `
kind: DeliveryPolicy
spec:
  quietHours:
    start: "21:00"
    end: "24:00"
`,
		field:   "spec.quietHours.end",
		message: "should match",
	},
	{
		name: "DeliveryPolicy empty quiet window",
		manifest: `
kind: DeliveryPolicy
spec:
  quietHours:
    start: "21:00"
    end: "21:00"
`,
		field:   "spec.quietHours",
		message: "quietHours.start and quietHours.end must differ",
	},
	{
		name: "DeliveryPolicy default time zone written as an offset",
		manifest: `
kind: DeliveryPolicy
spec:
  quietHours:
    start: "21:00"
    end: "09:00"
    defaultTimeZone: "+09:00"
`,
		field:   "spec.quietHours.defaultTimeZone",
		message: "should match",
	},
	{
		name: "DeliveryPolicy allowed day abbreviated",
		manifest: `
kind: DeliveryPolicy
spec:
  quietHours:
    start: "21:00"
    end: "09:00"
    allowedDays: [Mon]
`,
		field:   "spec.quietHours.allowedDays[0]",
		message: `Unsupported value: "Mon"`,
	},
	{
		name: "DeliveryPolicy frequency cap period in words",
		manifest: `
kind: DeliveryPolicy
spec:
  frequencyCaps:
    - name: marketing-weekly
      maxMessages: 3
      period: 1 week
`,
		field:   "spec.frequencyCaps[0].period",
		message: "should match",
	},
	{
		name: "DeliveryPolicy frequency cap of zero messages",
		manifest: `
kind: DeliveryPolicy
spec:
  frequencyCaps:
    - name: marketing-weekly
      maxMessages: 0
      period: 7d
`,
		field:   "spec.frequencyCaps[0].maxMessages",
		message: "should be greater than or equal to 1",
	},
	{
		name: "DeliveryPolicy frequency cap names repeated",
		manifest: `
kind: DeliveryPolicy
spec:
  frequencyCaps:
    - name: marketing
      maxMessages: 3
      period: 7d
    - name: marketing
      maxMessages: 10
      period: 30d
`,
		field:   "spec.frequencyCaps[1]",
		message: "Duplicate value",
	},
	{
		name: "DeliveryPolicy frequency cap channel type outside the enum",
		manifest: `
kind: DeliveryPolicy
spec:
  frequencyCaps:
    - name: email-weekly
      maxMessages: 2
      period: 7d
      channelTypes: [Email]
`,
		field:   "spec.frequencyCaps[0].channelTypes[0]",
		message: `Unsupported value: "Email"`,
	},
	{
		name: "DeliveryPolicy consent mode outside the enum",
		manifest: `
kind: DeliveryPolicy
spec:
  consent:
    - channelType: SMTP
      purpose: Marketing
      mode: Required
`,
		field:   "spec.consent[0].mode",
		message: `Unsupported value: "Required"`,
	},
	{
		name: "DeliveryPolicy soft bounce limit above 100",
		manifest: `
kind: DeliveryPolicy
spec:
  suppression:
    softBounceLimit: 101
`,
		field:   "spec.suppression.softBounceLimit",
		message: "should be less than or equal to 100",
	},

	// Campaign
	{
		name: "Campaign without trigger",
		manifest: `
kind: Campaign
spec:
  audience:
    include:
      - name: new-customers
  trigger: {}
  steps:
    - name: hello
      messages:
        - channelRef:
            name: email
          template:
            subject: ようこそ
            text: "{{ honorific .Attributes.last_name }}、ようこそ。"
`,
		field:   "spec.trigger",
		message: "spec.trigger must set exactly one of once, schedule, segmentEntry or event",
	},
	{
		name: "Campaign with two triggers",
		manifest: `
kind: Campaign
spec:
  audience:
    include:
      - name: new-customers
  trigger:
    once:
      at: "2026-12-24T09:00:00+09:00"
    schedule:
      cron: "0 9 * * *"
  steps:
    - name: hello
      messages:
        - channelRef:
            name: email
          template:
            subject: ようこそ
            text: "{{ honorific .Attributes.last_name }}、ようこそ。"
`,
		field:   "spec.trigger",
		message: "spec.trigger must set exactly one of once, schedule, segmentEntry or event",
	},
	{
		name: "Campaign cron with four fields",
		manifest: `
kind: Campaign
spec:
  audience:
    include:
      - name: lapsed-customers
  trigger:
    schedule:
      cron: "0 10 * *"
      timeZone: Asia/Tokyo
  steps:
    - name: offer
      messages:
        - channelRef:
            name: email
          template:
            subject: お久しぶりです
            text: "{{ honorific .Attributes.last_name }}、お久しぶりです。"
`,
		field:   "spec.trigger.schedule.cron",
		message: "cron must have five fields",
	},
	{
		name: "Campaign schedule time zone with a space",
		manifest: `
kind: Campaign
spec:
  audience:
    include:
      - name: lapsed-customers
  trigger:
    schedule:
      cron: "0 10 * * 2"
      timeZone: Asia Tokyo
  steps:
    - name: offer
      messages:
        - channelRef:
            name: email
          template:
            subject: お久しぶりです
            text: "{{ honorific .Attributes.last_name }}、お久しぶりです。"
`,
		field:   "spec.trigger.schedule.timeZone",
		message: "should match",
	},
	{
		name: "Campaign segment entry checked every zero minutes",
		manifest: `
kind: Campaign
spec:
  audience:
    include:
      - name: new-customers
  trigger:
    segmentEntry:
      checkEvery: 0m
  steps:
    - name: hello
      messages:
        - channelRef:
            name: email
          template:
            subject: ようこそ
            text: "{{ honorific .Attributes.last_name }}、ようこそ。"
`,
		field:   "spec.trigger.segmentEntry.checkEvery",
		message: "should match",
	},
	{
		name: "Campaign event trigger type with spaces",
		manifest: `
kind: Campaign
spec:
  audience:
    include:
      - name: new-customers
  trigger:
    event:
      type: Cart Abandoned
  steps:
    - name: reminder
      messages:
        - channelRef:
            name: email
          template:
            subject: カートに商品が残っています
            text: "{{ honorific .Attributes.last_name }}、カートに商品が残っています。"
`,
		field:   "spec.trigger.event.type",
		message: "should match",
	},
	{
		name: "Campaign event trigger checked less often than daily",
		manifest: `
kind: Campaign
spec:
  audience:
    include:
      - name: new-customers
  trigger:
    event:
      type: cart_abandoned
      checkEvery: 25h
  steps:
    - name: reminder
      messages:
        - channelRef:
            name: email
          template:
            subject: カートに商品が残っています
            text: "{{ honorific .Attributes.last_name }}、カートに商品が残っています。"
`,
		field:   "spec.trigger.event.checkEvery",
		message: "checkEvery must be at most 1d",
	},
	{
		name: "Campaign event trigger checked every 1,441 minutes",
		manifest: `
kind: Campaign
spec:
  audience:
    include:
      - name: new-customers
  trigger:
    event:
      type: cart_abandoned
      checkEvery: 1441m
  steps:
    - name: reminder
      messages:
        - channelRef:
            name: email
          template:
            subject: カートに商品が残っています
            text: "{{ honorific .Attributes.last_name }}、カートに商品が残っています。"
`,
		field:   "spec.trigger.event.checkEvery",
		message: "checkEvery must be at most 1d",
	},
	{
		name: "Campaign event trigger checked every zero minutes",
		manifest: `
kind: Campaign
spec:
  audience:
    include:
      - name: new-customers
  trigger:
    event:
      type: cart_abandoned
      checkEvery: 0m
  steps:
    - name: reminder
      messages:
        - channelRef:
            name: email
          template:
            subject: カートに商品が残っています
            text: "{{ honorific .Attributes.last_name }}、カートに商品が残っています。"
`,
		field:   "spec.trigger.event.checkEvery",
		message: "should match",
	},
	{
		name: "Campaign purpose outside the enum",
		manifest: `
kind: Campaign
spec:
  audience:
    include:
      - name: new-customers
  purpose: Promotion
  trigger:
    segmentEntry: {}
  steps:
    - name: hello
      messages:
        - channelRef:
            name: email
          template:
            subject: ようこそ
            text: "{{ honorific .Attributes.last_name }}、ようこそ。"
`,
		field:   "spec.purpose",
		message: `Unsupported value: "Promotion"`,
	},
	{
		name: "Campaign audience without included segments",
		manifest: `
kind: Campaign
spec:
  audience:
    include: []
  trigger:
    segmentEntry: {}
  steps:
    - name: hello
      messages:
        - channelRef:
            name: email
          template:
            subject: ようこそ
            text: "{{ honorific .Attributes.last_name }}、ようこそ。"
`,
		field:   "spec.audience.include",
		message: "should have at least 1 items",
	},
	{
		name: "Campaign without steps",
		manifest: `
kind: Campaign
spec:
  audience:
    include:
      - name: new-customers
  trigger:
    segmentEntry: {}
  steps: []
`,
		field:   "spec.steps",
		message: "should have at least 1 items",
	},
	{
		name: "Campaign step name with an underscore",
		manifest: `
kind: Campaign
spec:
  audience:
    include:
      - name: new-customers
  trigger:
    segmentEntry: {}
  steps:
    - name: step_1
      messages:
        - channelRef:
            name: email
          template:
            subject: ようこそ
            text: "{{ honorific .Attributes.last_name }}、ようこそ。"
`,
		field:   "spec.steps[0].name",
		message: "should match",
	},
	{
		name: "Campaign step delay in words",
		manifest: `
kind: Campaign
spec:
  audience:
    include:
      - name: new-customers
  trigger:
    segmentEntry: {}
  steps:
    - name: coupon
      delay: 3 days
      messages:
        - channelRef:
            name: email
          template:
            subject: クーポン
            text: "{{ honorific .Attributes.last_name }}、クーポンをお贈りします。"
`,
		field:   "spec.steps[0].delay",
		message: "should match",
	},
	{
		name: "Campaign step with six fallbacks",
		manifest: `
kind: Campaign
spec:
  audience:
    include:
      - name: new-customers
  trigger:
    segmentEntry: {}
  steps:
    - name: hello
      messages:
        - {channelRef: {name: line}, template: {text: こんにちは}}
        - {channelRef: {name: app-push}, template: {text: こんにちは}}
        - {channelRef: {name: email}, template: {text: こんにちは}}
        - {channelRef: {name: sms}, template: {text: こんにちは}}
        - {channelRef: {name: crm-webhook}, template: {payload: "{}"}}
        - {channelRef: {name: email-backup}, template: {text: こんにちは}}
`,
		field:   "spec.steps[0].messages",
		message: "must have at most 5 items",
	},
	{
		name: "Campaign template without a body",
		manifest: `
kind: Campaign
spec:
  audience:
    include:
      - name: new-customers
  trigger:
    segmentEntry: {}
  steps:
    - name: hello
      messages:
        - channelRef:
            name: email
          template:
            subject: ようこそ
`,
		field:   "spec.steps[0].messages[0].template",
		message: "template must set at least one of text, html or payload",
	},
	{
		name: "Campaign experiment weights summing to 110",
		manifest: `
kind: Campaign
spec:
  audience:
    include:
      - name: lapsed-customers
  trigger:
    schedule:
      cron: "0 10 * * 2"
  experiment:
    variants:
      - name: yen-off
        weight: 60
      - name: percent-off
        weight: 50
  steps:
    - name: offer
      messages:
        - channelRef:
            name: email
          template:
            text: "{{ honorific .Attributes.last_name }}、お久しぶりです。"
`,
		field:   "spec.experiment",
		message: "experiment.variants[].weight must sum to 100",
	},
	{
		name: "Campaign experiment with one variant",
		manifest: `
kind: Campaign
spec:
  audience:
    include:
      - name: lapsed-customers
  trigger:
    schedule:
      cron: "0 10 * * 2"
  experiment:
    variants:
      - name: only
        weight: 100
  steps:
    - name: offer
      messages:
        - channelRef:
            name: email
          template:
            text: "{{ honorific .Attributes.last_name }}、お久しぶりです。"
`,
		field:   "spec.experiment.variants",
		message: "should have at least 2 items",
	},
	{
		name: "Campaign reEligibleAfter without a unit",
		manifest: `
kind: Campaign
spec:
  audience:
    include:
      - name: birthday-this-month
  trigger:
    schedule:
      cron: "0 9 * * *"
  reEligibleAfter: "300"
  steps:
    - name: greeting
      messages:
        - channelRef:
            name: email
          template:
            text: "お誕生日おめでとうございます。"
`,
		field:   "spec.reEligibleAfter",
		message: "should match",
	},
	{
		name: "Campaign holdout above 50 percent",
		manifest: `
kind: Campaign
spec:
  audience:
    include:
      - name: lapsed-customers
  trigger:
    schedule:
      cron: "0 10 * * 2"
  experiment:
    variants:
      - name: yen-off
        weight: 50
      - name: percent-off
        weight: 50
    holdoutPercent: 60
  steps:
    - name: offer
      messages:
        - channelRef:
            name: email
          template:
            text: "{{ honorific .Attributes.last_name }}、お久しぶりです。"
`,
		field:   "spec.experiment.holdoutPercent",
		message: "should be less than or equal to 50",
	},
	{
		name: "Campaign message variant missing from the experiment",
		manifest: `
kind: Campaign
spec:
  audience:
    include:
      - name: lapsed-customers
  trigger:
    schedule:
      cron: "0 10 * * 2"
  experiment:
    variants:
      - name: yen-off
        weight: 50
      - name: percent-off
        weight: 50
  steps:
    - name: offer
      messages:
        - channelRef:
            name: email
          template:
            text: "{{ honorific .Attributes.last_name }}、お久しぶりです。"
          variants:
            - name: free-shipping
              template:
                text: 送料無料クーポンをお贈りします。
`,
		field:   "spec",
		message: "every steps[].messages[].variants[].name must be one of spec.experiment.variants[].name",
	},
	{
		name: "Campaign message variants without an experiment",
		manifest: `
kind: Campaign
spec:
  audience:
    include:
      - name: lapsed-customers
  trigger:
    schedule:
      cron: "0 10 * * 2"
  steps:
    - name: offer
      messages:
        - channelRef:
            name: email
          template:
            text: "{{ honorific .Attributes.last_name }}、お久しぶりです。"
          variants:
            - name: yen-off
              template:
                text: 1,000円オフクーポンをお贈りします。
`,
		field:   "spec",
		message: "steps[].messages[].variants need spec.experiment to say how recipients are split",
	},
}

func TestInvalidManifestsAreRejected(t *testing.T) {
	ns := newNamespace(t)
	for i, tc := range invalidCases {
		t.Run(tc.name, func(t *testing.T) {
			obj := object(t, "apiVersion: cdp.kizuna.dev/v1alpha1\n"+strings.TrimLeft(tc.manifest, "\n"), ns)
			obj.SetName(fmt.Sprintf("invalid-%03d", i))
			err := k8s.Create(context.Background(), obj)
			requireInvalid(t, err, tc.field, tc.message)
			if got := problems(err); len(got) != 1 {
				t.Errorf("want exactly one problem reported, so that the case fails for its own reason only; got %d:\n%v", len(got), err)
			}
		})
	}
}

// TestInvalidCasesCoverEveryKind keeps the table spread over the whole API.
func TestInvalidCasesCoverEveryKind(t *testing.T) {
	perKind := map[string]int{}
	for _, tc := range invalidCases {
		obj := object(t, tc.manifest, "")
		perKind[obj.GetKind()]++
	}
	for _, kind := range []string{"DataSource", "IdentityResolution", "Segment", "Channel", "DeliveryPolicy", "Campaign"} {
		if perKind[kind] < 5 {
			t.Errorf("%d invalid cases for %s; want at least 5", perKind[kind], kind)
		}
	}
	if len(invalidCases) < 45 {
		t.Errorf("%d invalid cases; want at least 45", len(invalidCases))
	}
}
