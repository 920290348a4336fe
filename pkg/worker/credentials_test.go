package worker

import (
	"context"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/delivery"
)

func TestSecretEnvPrefixTakesEverySecretKeyAndKeepsSecretsApart(t *testing.T) {
	// The names Kubernetes allows environment variables (envFrom keys included) to have.
	envName := regexp.MustCompile(`^[-._a-zA-Z][-._a-zA-Z0-9]*$`)
	prefix := SecretEnvPrefix("crm-hook.headers")
	if prefix != SecretEnvPrefix("crm-hook.headers") {
		t.Fatal("SecretEnvPrefix is not stable")
	}
	if !regexp.MustCompile(`^KIZUNA_SECRETS_[0-9A-F]{16}_$`).MatchString(prefix) {
		t.Errorf("SecretEnvPrefix = %q", prefix)
	}
	for _, key := range []string{"X-Api-Key", "authorization", ".dotted", "a_b.c-d", "0"} {
		if !envName.MatchString(prefix + key) {
			t.Errorf("Secret key %q makes the variable %q, which Kubernetes refuses", key, prefix+key)
		}
	}
	marker := SecretEnvMarker("crm-hook.headers")
	if !envName.MatchString(marker) || strings.HasPrefix(marker, prefix) {
		t.Errorf("SecretEnvMarker = %q: want a valid name that no key of the Secret makes", marker)
	}
	other := SecretEnvPrefix("crm-hook-headers")
	if strings.HasPrefix(other, prefix) || strings.HasPrefix(prefix, other) {
		t.Errorf("the prefixes of two Secrets, %q and %q, overlap", prefix, other)
	}
}

// TestEnvCredentialsReadAWholeSecret sets the environment a delivery Job's Pod gets for a Secret
// passed whole (envFrom with the Secret's prefix, and its marker), next to another Secret's: the
// worker reads that Secret's keys as they are spelled, and nothing else.
func TestEnvCredentialsReadAWholeSecret(t *testing.T) {
	ctx := context.Background()
	if _, err := (EnvCredentials{}).SecretData(ctx, "hook-headers"); err == nil || !strings.Contains(err.Error(), `secret "hook-headers" was not passed to this Pod`) {
		t.Errorf("SecretData of a Secret the Job did not pass = %v, want an error naming it", err)
	}
	t.Setenv(SecretEnvMarker("hook-headers"), "hook-headers")
	t.Setenv(SecretEnvPrefix("hook-headers")+"X-Api-Key", "key-7f3a")
	t.Setenv(SecretEnvPrefix("hook-headers")+"x-tenant", "kizuna-store")
	t.Setenv(SecretEnvPrefix("other-headers")+"X-Other", "not this one")
	t.Setenv(SecretEnvName("hook-headers", "Authorization"), "a key passed alone")
	got, err := EnvCredentials{}.SecretData(ctx, "hook-headers")
	want := map[string]string{"X-Api-Key": "key-7f3a", "x-tenant": "kizuna-store"}
	if err != nil || !maps.Equal(got, want) {
		t.Errorf("SecretData = %v, %v; want %v", got, err, want)
	}

	t.Setenv(SecretEnvMarker("empty"), "empty")
	if got, err := (EnvCredentials{}).SecretData(ctx, "empty"); err != nil || len(got) != 0 {
		t.Errorf("SecretData of a Secret without keys = %v, %v; want no keys and no error", got, err)
	}
}

// TestWebhookChannelSendsItsHeadersSecret builds a webhook channel's sender as `kizuna run --send`
// does, from the Secrets among the manifests: each request carries the headers Secret's keys as
// headers. A key that is no header name, or that would replace the signature, stops the channel
// with an error that names the channel and the key and not the value.
func TestWebhookChannelSendsItsHeadersSecret(t *testing.T) {
	var mu sync.Mutex
	var received []http.Header
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		received = append(received, r.Header.Clone())
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hook.Close()
	ch := &cdpv1alpha1.Channel{Spec: cdpv1alpha1.ChannelSpec{Type: cdpv1alpha1.ChannelWebhook, Webhook: &cdpv1alpha1.WebhookChannel{
		URL:              hook.URL + "/kizuna",
		SigningSecretRef: cdpv1alpha1.SecretKeySelector{Name: "hook-signing", Key: "key"},
		HeadersSecretRef: &cdpv1alpha1.LocalObjectReference{Name: "hook-headers"},
	}}}
	ch.Name, ch.Namespace = "crm-hook", "shop"
	if got := ChannelWholeSecrets(ch); len(got) != 1 || got[0] != "hook-headers" {
		t.Errorf("ChannelWholeSecrets = %v, want [hook-headers]", got)
	}
	secrets := func(headers map[string][]byte) MapCredentials {
		return MapCredentials{Secrets: map[string]map[string][]byte{
			"hook-signing": {"key": []byte("0123456789abcdef0123456789abcdef")},
			"hook-headers": headers,
		}}
	}

	sender, err := NewChannelSender(t.Context(), nil, ch, secrets(map[string][]byte{
		"X-Api-Key": []byte("key-7f3a\n"), "x-tenant": []byte("kizuna-store"),
	}), ChannelOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sender.Sender.Close() }()
	for _, id := range []string{"m1", "m2"} {
		if _, err := sender.Sender.Send(t.Context(), &delivery.Message{ID: id, Payload: []byte(`{}`)}); err != nil {
			t.Fatalf("Send %s: %v", id, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(received) != 2 {
		t.Fatalf("the webhook received %d requests, want 2", len(received))
	}
	for i, h := range received {
		if h.Get("X-Api-Key") != "key-7f3a" || h.Get("X-Tenant") != "kizuna-store" || h.Get("Kizuna-Signature") == "" {
			t.Errorf("request %d headers %v, want X-Api-Key, X-Tenant and the signature", i+1, h)
		}
	}

	for key, errHas := range map[string]string{
		"Kizuna-Signature": `channel crm-hook: webhook: headers Secret key "Kizuna-Signature" would replace a header`,
		"X Api Key":        `channel crm-hook: webhook: headers Secret key "X Api Key" is not an HTTP header name`,
	} {
		_, err := NewChannelSender(t.Context(), nil, ch, secrets(map[string][]byte{key: []byte("value-5c9e")}), ChannelOptions{})
		if err == nil || !strings.Contains(err.Error(), errHas) || strings.Contains(err.Error(), "value-5c9e") {
			t.Errorf("headers Secret key %q: %v; want an error containing %q, without the value", key, err, errHas)
		}
	}
	_, err = NewChannelSender(t.Context(), nil, ch, MapCredentials{Secrets: map[string]map[string][]byte{
		"hook-signing": {"key": []byte("0123456789abcdef0123456789abcdef")},
	}}, ChannelOptions{})
	if err == nil || !strings.Contains(err.Error(), `channel crm-hook: headersSecretRef: secret "hook-headers" is not among the manifests`) {
		t.Errorf("a headers Secret that is missing: %v", err)
	}
}
