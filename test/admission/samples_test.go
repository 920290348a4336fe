package admission

import (
	"context"
	"encoding/json"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/test/samples"
)

// TestSamplesAreAccepted creates every sample in a fresh namespace. The samples also serve as the
// valid baseline the invalid cases are variations of.
func TestSamplesAreAccepted(t *testing.T) {
	ns := newNamespace(t)
	kinds := map[string]int{}
	for _, obj := range samples.Load(t) {
		obj.SetNamespace(ns)
		// Strict: a misspelt field would otherwise be dropped with only a warning.
		if err := k8s.Create(context.Background(), obj, client.FieldValidation("Strict")); err != nil {
			t.Errorf("create sample %s %s: %v", obj.GetKind(), obj.GetName(), err)
			continue
		}
		kinds[obj.GetKind()]++
	}
	for _, kind := range []string{"DataSource", "IdentityResolution", "Segment", "Channel", "DeliveryPolicy", "Campaign"} {
		if kinds[kind] == 0 {
			t.Errorf("config/samples has no accepted %s", kind)
		}
	}
}

// TestSamplesReferenceOnlyWhatTheyDeclare checks that every Secret key, ConfigMap key and Kizuna
// object a sample references is itself a sample, so that applying the samples into an empty
// namespace leaves nothing missing and every object can become Ready.
func TestSamplesReferenceOnlyWhatTheyDeclare(t *testing.T) {
	declared := map[string]bool{} // "Kind/name"
	keys := map[string]bool{}     // "Kind/name/key" for Secrets and ConfigMaps
	var refs []reference
	for _, obj := range samples.Load(t) {
		declared[obj.GetKind()+"/"+obj.GetName()] = true
		for _, field := range []string{"data", "stringData", "binaryData"} {
			values, _, _ := unstructured.NestedMap(obj.Object, field)
			for key := range values {
				keys[obj.GetKind()+"/"+obj.GetName()+"/"+key] = true
			}
		}
		refs = append(refs, referencesOf(t, obj)...)
	}
	for _, ref := range refs {
		target := ref.kind + "/" + ref.name
		if !declared[target] {
			t.Errorf("%s references %s, which config/samples does not declare", ref.from, target)
			continue
		}
		for _, key := range ref.keys {
			if !keys[target+"/"+key] {
				t.Errorf("%s needs key %q of %s, which the sample does not hold", ref.from, key, target)
			}
		}
	}
	if len(refs) == 0 {
		t.Fatal("found no references in the samples; the walk is broken")
	}
}

// reference is an object a sample needs, with the keys it reads from a Secret or ConfigMap.
type reference struct {
	from, kind, name string
	keys             []string
}

// referencesOf lists what one sample object references.
func referencesOf(t *testing.T, obj *unstructured.Unstructured) []reference {
	t.Helper()
	from := obj.GetKind() + "/" + obj.GetName()
	secret := func(name string, keys ...string) reference { return reference{from, "Secret", name, keys} }
	object := func(kind, name string) reference { return reference{from, kind, name, nil} }
	var refs []reference
	switch obj.GetKind() {
	case "DataSource":
		var ds cdpv1alpha1.DataSource
		decode(t, obj, &ds)
		src := ds.Spec.Source
		if src.HTTP != nil && src.HTTP.AuthorizationSecretRef != nil {
			refs = append(refs, secret(src.HTTP.AuthorizationSecretRef.Name, src.HTTP.AuthorizationSecretRef.Key))
		}
		if src.S3 != nil && src.S3.CredentialsSecretRef != nil {
			refs = append(refs, secret(src.S3.CredentialsSecretRef.Name, "accessKeyID", "secretAccessKey"))
		}
		if src.ConfigMap != nil {
			refs = append(refs, reference{from, "ConfigMap", src.ConfigMap.Name, []string{src.ConfigMap.Key}})
		}
		if src.Postgres != nil {
			refs = append(refs, secret(src.Postgres.ConnectionSecretRef.Name, src.Postgres.ConnectionSecretRef.Key))
		}
		if src.Collector != nil {
			refs = append(refs, secret(src.Collector.WriteKeySecretRef.Name, src.Collector.WriteKeySecretRef.Key))
		}
	case "IdentityResolution":
		var idr cdpv1alpha1.IdentityResolution
		decode(t, obj, &idr)
		for _, src := range idr.Spec.Sources {
			refs = append(refs, object("DataSource", src.Name))
		}
	case "Segment":
		var seg cdpv1alpha1.Segment
		decode(t, obj, &seg)
		refs = append(refs, object("IdentityResolution", seg.Spec.ResolutionRef.Name))
		for _, name := range segmentsOf(seg.Spec.Rule) {
			refs = append(refs, object("Segment", name))
		}
	case "Channel":
		var ch cdpv1alpha1.Channel
		decode(t, obj, &ch)
		s := ch.Spec
		if s.SMTP != nil && s.SMTP.AuthSecretRef != nil {
			refs = append(refs, secret(s.SMTP.AuthSecretRef.Name, "username", "password"))
		}
		if s.Webhook != nil {
			refs = append(refs, secret(s.Webhook.SigningSecretRef.Name, s.Webhook.SigningSecretRef.Key))
			if s.Webhook.HeadersSecretRef != nil {
				refs = append(refs, secret(s.Webhook.HeadersSecretRef.Name))
			}
		}
		if s.SMS != nil {
			keys := []string{"accountID", "authToken"}
			if s.SMS.Provider == "Vonage" {
				keys = []string{"apiKey", "apiSecret"}
			}
			refs = append(refs, secret(s.SMS.CredentialsSecretRef.Name, keys...))
		}
		if s.LINE != nil {
			refs = append(refs, secret(s.LINE.ChannelAccessTokenSecretRef.Name, s.LINE.ChannelAccessTokenSecretRef.Key))
		}
		if s.Push != nil {
			refs = append(refs, secret(s.Push.ServiceAccountSecretRef.Name, s.Push.ServiceAccountSecretRef.Key))
		}
	case "Campaign":
		var c cdpv1alpha1.Campaign
		decode(t, obj, &c)
		for _, seg := range append(c.Spec.Audience.Include, c.Spec.Audience.Exclude...) {
			refs = append(refs, object("Segment", seg.Name))
		}
		for _, step := range c.Spec.Steps {
			for _, m := range step.Messages {
				refs = append(refs, object("Channel", m.ChannelRef.Name))
			}
		}
		policy := cdpv1alpha1.DefaultDeliveryPolicyName
		if c.Spec.PolicyRef != nil {
			policy = c.Spec.PolicyRef.Name
		}
		refs = append(refs, object("DeliveryPolicy", policy))
	}
	return refs
}

// segmentsOf lists the segments a rule tree tests membership of.
func segmentsOf(rule cdpv1alpha1.SegmentRule) []string {
	var names []string
	addCondition := func(c cdpv1alpha1.Condition) {
		if c.Segment != nil {
			names = append(names, c.Segment.Name)
		}
	}
	addLeaves := func(leaves ...cdpv1alpha1.LeafRule) {
		for _, leaf := range leaves {
			addCondition(leaf.Condition)
		}
	}
	addNested := func(nested ...cdpv1alpha1.NestedRule) {
		for _, n := range nested {
			addCondition(n.Condition)
			addLeaves(n.All...)
			addLeaves(n.Any...)
			if n.Not != nil {
				addLeaves(*n.Not)
			}
		}
	}
	addCondition(rule.Condition)
	addNested(rule.All...)
	addNested(rule.Any...)
	if rule.Not != nil {
		addNested(*rule.Not)
	}
	return names
}

// decode converts a sample into its typed form, refusing fields the type does not have.
func decode(t *testing.T, obj *unstructured.Unstructured, into any) {
	t.Helper()
	raw, err := json.Marshal(obj.Object)
	if err != nil {
		t.Fatalf("encode %s %s: %v", obj.GetKind(), obj.GetName(), err)
	}
	if err := yaml.UnmarshalStrict(raw, into); err != nil {
		t.Fatalf("decode %s %s: %v", obj.GetKind(), obj.GetName(), err)
	}
}
