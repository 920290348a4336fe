package admission

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// acceptedCases sit at the edge of a rule and must pass, so that a rule cannot be made stricter
// than its message says without a test failing.
var acceptedCases = []struct {
	name     string
	manifest string
}{
	{
		name: "DataSource cron descriptor",
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
    cron: "@every 6h"
    timeZone: UTC
`,
	},
	{
		name: "DataSource http url with a port and a query",
		manifest: `
kind: DataSource
spec:
  type: Records
  source:
    http:
      url: "http://crm.example.com:8080/export?format=csv&since=2026-01-01T00:00:00Z"
  format:
    type: CSV
  recordKey:
    column: id
`,
	},
	{
		name: "Segment Between with two values",
		manifest: `
kind: Segment
spec:
  resolutionRef:
    name: customers
  rule:
    attribute:
      path: age
      operator: Between
      values: ["30", "39"]
`,
	},
	{
		name: "Segment times in different offsets, from before to",
		manifest: `
kind: Segment
spec:
  resolutionRef:
    name: customers
  rule:
    event:
      type: purchase
      between:
        from: "2026-03-31T10:00:00+09:00"
        to: "2026-03-31T02:00:00Z"
`,
	},
	{
		name: "Segment range ending on the date of its starting time",
		manifest: `
kind: Segment
spec:
  resolutionRef:
    name: customers
  rule:
    event:
      type: purchase
      between:
        from: "2026-03-31T18:00:00+09:00"
        to: "2026-03-31"
`,
	},
	{
		name: "Segment three levels deep",
		manifest: `
kind: Segment
spec:
  resolutionRef:
    name: customers
  rule:
    all:
      - any:
          - identifier:
              type: Email
              reachable: true
          - identifier:
              type: LineUserID
      - not:
          segment:
            name: lapsed-customers
`,
	},
	{
		name: "Channel rate limit below one message a second",
		manifest: `
kind: Channel
spec:
  type: SMS
  sms:
    provider: Vonage
    from: KizunaStore
    credentialsSecretRef:
      name: vonage-credentials
  rateLimit:
    messagesPerSecond: 0.5
`,
	},
	{
		name: "DeliveryPolicy quiet window within one day",
		manifest: `
kind: DeliveryPolicy
spec:
  quietHours:
    start: "12:00"
    end: "13:00"
    allowedDays: [Monday, Tuesday, Wednesday, Thursday, Friday]
`,
	},
	{
		name: "Campaign experiment of three variants",
		manifest: `
kind: Campaign
spec:
  audience:
    include:
      - name: lapsed-customers
  trigger:
    once:
      at: "2026-12-24T09:00:00+09:00"
  experiment:
    variants:
      - name: a
        weight: 34
      - name: b
        weight: 33
      - name: c
        weight: 33
    holdoutPercent: 50
  steps:
    - name: offer
      messages:
        - channelRef:
            name: email
          template:
            text: "{{ honorific .Attributes.last_name }}、お久しぶりです。"
          variants:
            - name: b
              template:
                text: "{{ honorific .Attributes.last_name }}、クーポンをお贈りします。"
`,
	},
	{
		name: "Campaign event trigger checked every 24 hours",
		manifest: `
kind: Campaign
spec:
  audience:
    include:
      - name: new-customers
  trigger:
    event:
      type: cart_abandoned
      checkEvery: 24h
  steps:
    - name: reminder
      messages:
        - channelRef:
            name: email
          template:
            subject: カートに商品が残っています
            text: "{{ honorific .Attributes.last_name }}、カートに商品が残っています。"
`,
	},
	{
		name: "Campaign event trigger checked every 1,440 minutes",
		manifest: `
kind: Campaign
spec:
  audience:
    include:
      - name: new-customers
  trigger:
    event:
      type: cart_abandoned
      checkEvery: 1440m
  steps:
    - name: reminder
      messages:
        - channelRef:
            name: email
          template:
            subject: カートに商品が残っています
            text: "{{ honorific .Attributes.last_name }}、カートに商品が残っています。"
`,
	},
	{
		name: "Campaign event trigger checked every one day",
		manifest: `
kind: Campaign
spec:
  audience:
    include:
      - name: new-customers
  trigger:
    event:
      type: cart_abandoned
      checkEvery: 1d
  steps:
    - name: reminder
      messages:
        - channelRef:
            name: email
          template:
            subject: カートに商品が残っています
            text: "{{ honorific .Attributes.last_name }}、カートに商品が残っています。"
`,
	},
}

func TestBoundaryManifestsAreAccepted(t *testing.T) {
	ns := newNamespace(t)
	for i, tc := range acceptedCases {
		t.Run(tc.name, func(t *testing.T) {
			obj := object(t, "apiVersion: cdp.kizuna.dev/v1alpha1\n"+strings.TrimLeft(tc.manifest, "\n"), ns)
			obj.SetName(fmt.Sprintf("accepted-%03d", i))
			if err := k8s.Create(context.Background(), obj); err != nil {
				t.Fatalf("the API server rejected a valid object: %v", err)
			}
		})
	}
}
