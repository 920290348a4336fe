package admission

import (
	"context"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// create creates the manifest's object in namespace and returns it as stored.
func create(t *testing.T, namespace, manifest string) *unstructured.Unstructured {
	t.Helper()
	obj := object(t, manifest, namespace)
	if err := k8s.Create(context.Background(), obj); err != nil {
		t.Fatalf("create %s %s: %v", obj.GetKind(), obj.GetName(), err)
	}
	return obj
}

// update reads the object's latest version, changes it with change and updates the spec, or the
// status when status is true. It returns the API server's answer.
func update(t *testing.T, obj *unstructured.Unstructured, status bool, change func(content map[string]any)) error {
	t.Helper()
	latest := &unstructured.Unstructured{}
	latest.SetGroupVersionKind(obj.GroupVersionKind())
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(obj), latest); err != nil {
		t.Fatalf("get %s %s: %v", obj.GetKind(), obj.GetName(), err)
	}
	change(latest.Object)
	if status {
		return k8s.Status().Update(context.Background(), latest)
	}
	return k8s.Update(context.Background(), latest)
}

// mustUpdate is update for changes the API server must accept.
func mustUpdate(t *testing.T, obj *unstructured.Unstructured, status bool, change func(content map[string]any)) {
	t.Helper()
	if err := update(t, obj, status, change); err != nil {
		t.Fatalf("the API server rejected an allowed change of %s %s: %v", obj.GetKind(), obj.GetName(), err)
	}
}

// set sets a field of content, failing the test when the path runs through a non-object.
func set(t *testing.T, content map[string]any, value any, path ...string) {
	t.Helper()
	if err := unstructured.SetNestedField(content, value, path...); err != nil {
		t.Fatalf("set %v: %v", path, err)
	}
}

// get reads a field of the object's latest version.
func get(t *testing.T, obj *unstructured.Unstructured, path ...string) any {
	t.Helper()
	latest := &unstructured.Unstructured{}
	latest.SetGroupVersionKind(obj.GroupVersionKind())
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(obj), latest); err != nil {
		t.Fatalf("get %s %s: %v", obj.GetKind(), obj.GetName(), err)
	}
	value, _, err := unstructured.NestedFieldNoCopy(latest.Object, path...)
	if err != nil {
		t.Fatalf("read %v: %v", path, err)
	}
	return value
}

func TestDataSourceTypeIsImmutable(t *testing.T) {
	ns := newNamespace(t)
	ds := create(t, ns, `
apiVersion: cdp.kizuna.dev/v1alpha1
kind: DataSource
metadata:
  name: crm-contacts
spec:
  type: Records
  source:
    http:
      url: https://crm.example.com/contacts.csv
  format:
    type: CSV
  recordKey:
    column: id
`)

	mustUpdate(t, ds, false, func(c map[string]any) {
		set(t, c, map[string]any{"cron": "0 2 * * *", "timeZone": "Asia/Tokyo"}, "spec", "schedule")
	})

	// A change to Events that is valid in itself, so that only the transition can be refused.
	err := update(t, ds, false, func(c map[string]any) {
		set(t, c, "Events", "spec", "type")
		set(t, c, map[string]any{
			"type":       "purchase",
			"timestamp":  map[string]any{"column": "ordered_at"},
			"identifier": map[string]any{"column": "email", "type": "Email"},
		}, "spec", "event")
	})
	requireInvalid(t, err, "spec.type", "spec.type is immutable: create a new DataSource instead")
}

func TestChannelTypeIsImmutable(t *testing.T) {
	ns := newNamespace(t)
	ch := create(t, ns, `
apiVersion: cdp.kizuna.dev/v1alpha1
kind: Channel
metadata:
  name: email
spec:
  type: SMTP
  smtp:
    host: smtp.example.com
    from:
      address: news@example.com
      name: 絆ストア
`)

	mustUpdate(t, ch, false, func(c map[string]any) {
		set(t, c, map[string]any{"messagesPerSecond": int64(10)}, "spec", "rateLimit")
	})

	err := update(t, ch, false, func(c map[string]any) {
		set(t, c, "Webhook", "spec", "type")
		unstructured.RemoveNestedField(c, "spec", "smtp")
		set(t, c, map[string]any{
			"url":              "https://hooks.example.com/messages",
			"signingSecretRef": map[string]any{"name": "webhook", "key": "signingKey"},
		}, "spec", "webhook")
	})
	requireInvalid(t, err, "spec.type", "spec.type is immutable: create a new Channel instead")
}

func TestIdentityResolutionProfileIDPrefixIsImmutable(t *testing.T) {
	ns := newNamespace(t)
	withPrefix := create(t, ns, `
apiVersion: cdp.kizuna.dev/v1alpha1
kind: IdentityResolution
metadata:
  name: customers
spec:
  profileIDPrefix: cus_
  sources:
    - name: crm-contacts
  deterministic:
    - name: email
      identifiers: [Email]
`)
	withoutPrefix := create(t, ns, `
apiVersion: cdp.kizuna.dev/v1alpha1
kind: IdentityResolution
metadata:
  name: leads
spec:
  sources:
    - name: ma-leads
  deterministic:
    - name: email
      identifiers: [Email]
`)

	mustUpdate(t, withPrefix, false, func(c map[string]any) {
		set(t, c, true, "spec", "dryRun")
	})

	err := update(t, withPrefix, false, func(c map[string]any) {
		set(t, c, "c_", "spec", "profileIDPrefix")
	})
	requireInvalid(t, err, "spec.profileIDPrefix", "spec.profileIDPrefix is immutable")

	err = update(t, withPrefix, false, func(c map[string]any) {
		unstructured.RemoveNestedField(c, "spec", "profileIDPrefix")
	})
	requireInvalid(t, err, "spec.profileIDPrefix", "cannot be added or removed after creation")

	err = update(t, withoutPrefix, false, func(c map[string]any) {
		set(t, c, "lead_", "spec", "profileIDPrefix")
	})
	requireInvalid(t, err, "spec.profileIDPrefix", "cannot be added or removed after creation")
}

func TestIdentityResolutionKeepsItsSourcesOncePublished(t *testing.T) {
	ns := newNamespace(t)
	idr := create(t, ns, `
apiVersion: cdp.kizuna.dev/v1alpha1
kind: IdentityResolution
metadata:
  name: customers
spec:
  sources:
    - name: crm-contacts
    - name: business-cards
    - name: ma-leads
  deterministic:
    - name: email
      identifiers: [Email]
`)
	sources := func(names ...string) []any {
		out := make([]any, 0, len(names))
		for _, name := range names {
			out = append(out, map[string]any{"name": name})
		}
		return out
	}

	// Nothing is published yet: a source may still go.
	mustUpdate(t, idr, false, func(c map[string]any) {
		set(t, c, sources("crm-contacts", "business-cards"), "spec", "sources")
	})

	mustUpdate(t, idr, true, func(c map[string]any) {
		set(t, c, int64(1), "status", "publishedGeneration")
	})
	if got := get(t, idr, "status", "publishedGeneration"); got != int64(1) {
		t.Fatalf("status.publishedGeneration = %v after the status update; want 1", got)
	}

	// Adding a source stays allowed.
	mustUpdate(t, idr, false, func(c map[string]any) {
		set(t, c, sources("crm-contacts", "business-cards", "ma-leads"), "spec", "sources")
	})

	err := update(t, idr, false, func(c map[string]any) {
		set(t, c, sources("crm-contacts", "ma-leads"), "spec", "sources")
	})
	requireInvalid(t, err, "spec.sources", "a source cannot be removed once profiles have been published")

	// Replacing a source is a removal too.
	err = update(t, idr, false, func(c map[string]any) {
		set(t, c, sources("crm-contacts", "business-cards", "web-leads"), "spec", "sources")
	})
	requireInvalid(t, err, "spec.sources", "a source cannot be removed once profiles have been published")
}

func TestCampaignChannelsAreFixedOnceSent(t *testing.T) {
	ns := newNamespace(t)
	campaign := create(t, ns, `
apiVersion: cdp.kizuna.dev/v1alpha1
kind: Campaign
metadata:
  name: welcome-series
spec:
  audience:
    include:
      - name: new-customers
  trigger:
    segmentEntry: {}
  steps:
    - name: welcome
      messages:
        - channelRef:
            name: line
          template:
            text: "{{ honorific .Attributes.last_name }}、友だち登録ありがとうございます。"
        - channelRef:
            name: email
          template:
            subject: 絆ストアへようこそ
            text: "{{ honorific .Attributes.last_name }}、ご登録ありがとうございます。"
`)
	setFallbackChannel := func(name string) func(map[string]any) {
		return func(c map[string]any) {
			steps, _, _ := unstructured.NestedSlice(c, "spec", "steps")
			messages := steps[0].(map[string]any)["messages"].([]any)
			messages[1].(map[string]any)["channelRef"] = map[string]any{"name": name}
			set(t, c, steps, "spec", "steps")
		}
	}

	// Nothing has been sent yet: channels may change.
	mustUpdate(t, campaign, false, setFallbackChannel("sms"))

	mustUpdate(t, campaign, true, func(c map[string]any) {
		set(t, c, map[string]any{"targeted": int64(12), "sent": int64(10), "suppressed": int64(2)}, "status", "totals")
	})
	if got := get(t, campaign, "status", "totals", "sent"); got != int64(10) {
		t.Fatalf("status.totals.sent = %v after the status update; want 10", got)
	}

	err := update(t, campaign, false, setFallbackChannel("email"))
	requireInvalid(t, err, "spec.steps[].messages[].channelRef", "cannot change once the campaign has sent")

	// Templates and new steps remain editable.
	mustUpdate(t, campaign, false, func(c map[string]any) {
		steps, _, _ := unstructured.NestedSlice(c, "spec", "steps")
		messages := steps[0].(map[string]any)["messages"].([]any)
		messages[0].(map[string]any)["template"] = map[string]any{"text": "{{ honorific .Attributes.last_name }}、ようこそ絆ストアへ。"}
		steps = append(steps, map[string]any{
			"name":  "coupon",
			"delay": "3d",
			"messages": []any{map[string]any{
				"channelRef": map[string]any{"name": "email"},
				"template":   map[string]any{"subject": "クーポン", "text": "500円クーポンをお贈りします。"},
			}},
		})
		set(t, c, steps, "spec", "steps")
	})
}
