package linkserver

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-dev/kizuna/pkg/delivery/links"
	"github.com/kizuna-dev/kizuna/pkg/store"
)

// TestOneClickUnsubscribeRecordsARefusedConsent signs an unsubscribe link as a delivery worker
// of namespace shop does, and posts to it as a mail client does (RFC 8058): the store records the
// recipient's refusal. A link of another namespace's key, or of a namespace without a key, is
// not found, and a GET only shows the page.
func TestOneClickUnsubscribeRecordsARefusedConsent(t *testing.T) {
	st, err := store.Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "kizuna.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	keys := map[string][]byte{"shop": []byte(strings.Repeat("s", 32)), "other": []byte(strings.Repeat("o", 32))}
	srv := httptest.NewServer(&Server{Store: st, BaseURL: "https://kizuna.example.jp",
		Key: func(_ context.Context, ns string) ([]byte, error) {
			if k, ok := keys[ns]; ok {
				return k, nil
			}
			return nil, errors.New("no key")
		}})
	defer srv.Close()

	sign := func(ns string, key []byte) string {
		signer, err := links.NewSigner(NamespaceBaseURL(srv.URL, ns), key)
		if err != nil {
			t.Fatal(err)
		}
		return signer.UnsubscribeURL(links.Claims{Namespace: ns, Campaign: "welcome", Run: "r1", Step: "mail",
			ProfileID: "cus_1", ChannelType: "SMTP", Address: "taro@example.jp", IssuedAt: time.Now()})
	}
	post := func(url string) int {
		t.Helper()
		resp, err := http.Post(url, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	consents := func() []store.Consent {
		t.Helper()
		c, err := st.Consents(t.Context(), "shop", []string{"cus_1"})
		if err != nil {
			t.Fatal(err)
		}
		return c["cus_1"]
	}

	link := sign("shop", keys["shop"])
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(consents()) != 0 {
		t.Fatalf("GET = %d with consents %v; want the page and nothing recorded", resp.StatusCode, consents())
	}
	if code := post(sign("shop", keys["other"])); code != http.StatusNotFound {
		t.Errorf("a link signed with another namespace's key: %d, want 404", code)
	}
	if code := post(sign("nokey", keys["shop"])); code != http.StatusNotFound {
		t.Errorf("a namespace without a key: %d, want 404", code)
	}
	if len(consents()) != 0 {
		t.Fatalf("refused links recorded %v", consents())
	}
	if code := post(link); code != http.StatusOK {
		t.Fatalf("one-click POST = %d, want 200", code)
	}
	got := consents()
	if len(got) != 1 || got[0].Granted || got[0].ChannelType != "SMTP" || got[0].Purpose != "Marketing" || got[0].Source != "unsubscribe/welcome" {
		t.Fatalf("consents = %+v; want one refusal of marketing email", got)
	}
}
