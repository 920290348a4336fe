package links

import (
	"bytes"
	"encoding/base64"
	"errors"
	"html"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-dev/kizuna/pkg/delivery/template"
)

var (
	key1 = []byte("0123456789abcdef0123456789abcdef")
	key2 = []byte("fedcba9876543210fedcba9876543210fedcba98")
	key3 = bytes.Repeat([]byte{7}, 32)
)

const base = "https://kizuna.example.co.jp"

func newSigner(t *testing.T, keys ...[]byte) *Signer {
	t.Helper()
	s, err := NewSigner(base, keys...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func claims() Claims {
	return Claims{
		Namespace:   "shop",
		Campaign:    "spring-sale",
		Run:         "spring-sale-t1774947600",
		Step:        "reminder",
		ProfileID:   "p-01J9ZQ4K7M",
		ChannelType: "SMTP",
		Address:     "taro@example.co.jp",
		IssuedAt:    time.Date(2026, 3, 31, 9, 0, 0, 0, time.UTC),
	}
}

// tokenOf returns the token of a link.
func tokenOf(link string) string {
	i := strings.LastIndex(link, "/")
	return strings.TrimSuffix(link[i+1:], ".gif")
}

func TestNewSignerRefusesBadConfiguration(t *testing.T) {
	tests := []struct {
		name string
		base string
		keys [][]byte
		want string
	}{
		{"no key", base, nil, "no key: give at least one key of 32 random bytes or more"},
		{"short key", base, [][]byte{key1, []byte("short")}, "key 2 has 5 bytes, fewer than 32"},
		{"same key twice", base, [][]byte{key1, key2, key1}, "keys 1 and 3 are the same key"},
		{"not a URL", "kizuna.example.co.jp", [][]byte{key1}, "must be an http or https URL"},
		{"other scheme", "ftp://kizuna.example.co.jp", [][]byte{key1}, "must be an http or https URL"},
		{"credentials", "https://user:pw@kizuna.example.co.jp", [][]byte{key1}, "without credentials"},
		{"query", "https://kizuna.example.co.jp/?a=1", [][]byte{key1}, "query"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewSigner(tt.base, tt.keys...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewSigner() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestURLs(t *testing.T) {
	urlSafe := regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	for _, b := range []string{"https://kizuna.example.co.jp", "https://kizuna.example.co.jp/", "https://example.co.jp/kizuna/"} {
		s, err := NewSigner(b, key1)
		if err != nil {
			t.Fatal(err)
		}
		prefix := strings.TrimSuffix(b, "/")
		for link, path := range map[string]string{
			s.UnsubscribeURL(claims()):                      "/u/",
			s.ClickURL(claims(), "https://shop.example/?a"): "/c/",
			s.OpenURL(claims()):                             "/o/",
		} {
			if !strings.HasPrefix(link, prefix+path) {
				t.Errorf("link %s does not start with %s", link, prefix+path)
			}
			if token := tokenOf(link); !urlSafe.MatchString(token) {
				t.Errorf("token %q is not URL-safe", token)
			}
		}
		if open := s.OpenURL(claims()); !strings.HasSuffix(open, ".gif") {
			t.Errorf("open link %s does not end with .gif", open)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	s := newSigner(t, key1)
	c := claims()
	tests := []struct {
		link   string
		kind   Kind
		target string
	}{
		{s.UnsubscribeURL(c), KindUnsubscribe, ""},
		{s.ClickURL(c, "https://shop.example.co.jp/sale?utm_source=mail&id=日本"), KindClick, "https://shop.example.co.jp/sale?utm_source=mail&id=日本"},
		{s.OpenURL(c), KindOpen, ""},
	}
	for _, tt := range tests {
		got, err := s.Verify(tokenOf(tt.link))
		if err != nil {
			t.Fatalf("Verify(%s) = %v", tt.link, err)
		}
		if got.Kind != tt.kind || got.Target != tt.target {
			t.Errorf("Verify(%s) kind %c target %q, want %c %q", tt.link, got.Kind, got.Target, tt.kind, tt.target)
		}
		g := got.Claims
		if g.Namespace != c.Namespace || g.Campaign != c.Campaign || g.Run != c.Run || g.Step != c.Step ||
			g.ProfileID != c.ProfileID || g.ChannelType != c.ChannelType || !g.IssuedAt.Equal(c.IssuedAt) {
			t.Errorf("claims %+v, want %+v", g, c)
		}
		if g.Address != "" || strings.Contains(tt.link, "taro") {
			t.Errorf("the address travels in the link: %s", tt.link)
		}
		if !s.MatchesAddress(g, c.Address) || s.MatchesAddress(g, "hanako@example.co.jp") {
			t.Errorf("MatchesAddress does not tell the signed address from another")
		}
	}
}

func TestClaimsWithoutAddress(t *testing.T) {
	s := newSigner(t, key1)
	c := claims()
	c.Address = ""
	got, err := s.Verify(tokenOf(s.UnsubscribeURL(c)))
	if err != nil {
		t.Fatal(err)
	}
	if s.MatchesAddress(got.Claims, "") {
		t.Fatal("an empty address matches a token signed without one")
	}
}

// A typical link must stay short enough for an SMS and for List-Unsubscribe headers.
func TestTokensAreCompact(t *testing.T) {
	s := newSigner(t, key1)
	token := tokenOf(s.UnsubscribeURL(claims()))
	if len(token) > 150 {
		t.Fatalf("unsubscribe token is %d characters: %s", len(token), token)
	}
	t.Logf("unsubscribe token: %d characters", len(token))
}

func TestAnyChangedCharacterFails(t *testing.T) {
	s := newSigner(t, key1)
	for _, link := range []string{s.UnsubscribeURL(claims()), s.ClickURL(claims(), "https://shop.example/"), s.OpenURL(claims())} {
		token := tokenOf(link)
		for i := range len(token) {
			changed := []byte(token)
			if changed[i] == 'A' {
				changed[i] = 'B'
			} else {
				changed[i] = 'A'
			}
			if _, err := s.Verify(string(changed)); err == nil {
				t.Fatalf("token with character %d changed verifies: %s", i, changed)
			}
		}
	}
}

func TestAnyChangedBitFails(t *testing.T) {
	s := newSigner(t, key1)
	raw := decodeToken(t, tokenOf(s.ClickURL(claims(), "https://shop.example/")))
	for i := range raw {
		for bit := range 8 {
			changed := bytes.Clone(raw)
			changed[i] ^= 1 << bit
			if _, err := s.Verify(base64.RawURLEncoding.EncodeToString(changed)); err == nil {
				t.Fatalf("token with bit %d of byte %d flipped verifies", bit, i)
			}
		}
	}
}

func TestTruncatedTokensFail(t *testing.T) {
	s := newSigner(t, key1)
	token := tokenOf(s.ClickURL(claims(), "https://shop.example/"))
	for n := range len(token) {
		_, err := s.Verify(token[:n])
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("Verify(first %d characters) = %v, want ErrMalformed", n, err)
		}
	}
	raw := decodeToken(t, token)
	_, err := s.Verify(base64.RawURLEncoding.EncodeToString(raw[:len(raw)-1]))
	if err == nil || err.Error() != "malformed link token: it is truncated" {
		t.Fatalf("Verify(token without its last byte) = %v, want it called truncated", err)
	}
}

// A click link's target is signed: putting another target in its place fails.
func TestChangedTargetFails(t *testing.T) {
	s := newSigner(t, key1)
	raw := decodeToken(t, tokenOf(s.ClickURL(claims(), "https://shop.example.co.jp/")))
	at := bytes.Index(raw, []byte("https://shop.example.co.jp/"))
	copy(raw[at:], "https://evil.example.net/x/")
	_, err := s.Verify(base64.RawURLEncoding.EncodeToString(raw))
	if !errors.Is(err, ErrBadSignature) {
		t.Fatalf("Verify(token with another target) = %v, want ErrBadSignature", err)
	}
}

func TestKeyRotation(t *testing.T) {
	before := newSigner(t, key1)
	during := newSigner(t, key2, key1)
	after := newSigner(t, key2)
	old := tokenOf(before.UnsubscribeURL(claims()))
	current := tokenOf(during.UnsubscribeURL(claims()))

	got, err := during.Verify(old)
	if err != nil {
		t.Fatalf("a signer with the old key second does not verify the old token: %v", err)
	}
	if !during.MatchesAddress(got.Claims, claims().Address) {
		t.Fatal("the address of a token signed with the old key does not match")
	}
	if _, err := after.Verify(current); err != nil {
		t.Fatalf("tokens are not signed with the first key: %v", err)
	}
	if _, err := before.Verify(current); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("old signer verifying a new token = %v, want ErrUnknownKey", err)
	}
	if _, err := after.Verify(old); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("verifying a token of a removed key = %v, want ErrUnknownKey", err)
	}
	if _, err := newSigner(t, key3).Verify(old); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("verifying with another key = %v, want ErrUnknownKey", err)
	}

	// A token signed with key2 that claims to be signed with key1 fails on key1's tag.
	forged := decodeToken(t, current)
	copy(forged[1:1+keyIDSize], decodeToken(t, old)[1:1+keyIDSize])
	if _, err := during.Verify(base64.RawURLEncoding.EncodeToString(forged)); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("token with another key's ID = %v, want ErrBadSignature", err)
	}
}

func TestVerifyRefusesMalformedTokens(t *testing.T) {
	s := newSigner(t, key1)
	valid := decodeToken(t, tokenOf(s.UnsubscribeURL(claims())))
	withVersion := bytes.Clone(valid)
	withVersion[0] = 2
	withTrailer := append(bytes.Clone(valid), 0)
	tests := []struct {
		name, token, want string
	}{
		{"empty", "", "malformed link token: it is truncated"},
		{"not base64url", "abc+/def", "malformed link token: it is not unpadded base64url"},
		{"padded", base64.URLEncoding.EncodeToString(valid[:len(valid)-1]), "malformed link token: it is not unpadded base64url"},
		{"too long", strings.Repeat("A", 8193), "malformed link token: it is 8193 characters long, more than 8192"},
		{"other version", base64.RawURLEncoding.EncodeToString(withVersion), "malformed link token: version 2 is not supported"},
		{"bytes after the tag", base64.RawURLEncoding.EncodeToString(withTrailer), "malformed link token: 1 bytes follow its tag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Verify(tt.token)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("Verify() = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestRecipientBuildsTemplateLinks(t *testing.T) {
	s := newSigner(t, key1)
	r := s.For(claims())
	m, err := template.Parse(template.Parts{Text: `{{ track "https://shop.example.co.jp/sale" }} {{ unsubscribeURL }}`})
	if err != nil {
		t.Fatal(err)
	}
	out, err := m.Render(template.Data{LinkBuilder: r, Links: map[string]string{"unsubscribe": r.UnsubscribeURL()}})
	if err != nil {
		t.Fatal(err)
	}
	click, unsubscribe, _ := strings.Cut(out.Text, " ")
	got, err := s.Verify(tokenOf(click))
	if err != nil || got.Kind != KindClick || got.Target != "https://shop.example.co.jp/sale" || got.Claims.ProfileID != claims().ProfileID {
		t.Fatalf("tracked link %s verifies as %+v, %v", click, got, err)
	}
	if got, err := s.Verify(tokenOf(unsubscribe)); err != nil || got.Kind != KindUnsubscribe {
		t.Fatalf("unsubscribe link %s verifies as %+v, %v", unsubscribe, got, err)
	}
	if got, err := s.Verify(tokenOf(r.OpenURL())); err != nil || got.Kind != KindOpen {
		t.Fatalf("open link verifies as %+v, %v", got, err)
	}
}

// The open pixel a template renders is the recipient's signed open link, escaped for HTML.
func TestRecipientBuildsTheTemplateOpenPixel(t *testing.T) {
	s := newSigner(t, key1)
	m, err := template.Parse(template.Parts{HTML: `<p>{{ .Attributes.last_name }}様</p>{{ openPixel }}`})
	if err != nil {
		t.Fatal(err)
	}
	out, err := m.Render(template.Data{Attributes: map[string]any{"last_name": "山田"}, LinkBuilder: s.For(claims())})
	if err != nil {
		t.Fatal(err)
	}
	img := regexp.MustCompile(`^<p>山田様</p><img src="([^"]+)" width="1" height="1" alt="" style="[^"<>]*opacity:0[^"<>]*">$`).FindStringSubmatch(out.HTML)
	if img == nil {
		t.Fatalf("html = %q, want the paragraph and a hidden 1x1 image", out.HTML)
	}
	src := html.UnescapeString(img[1])
	if !strings.HasPrefix(src, base+"/o/") || !strings.HasSuffix(src, ".gif") {
		t.Fatalf("pixel src = %q, want %s/o/{token}.gif", src, base)
	}
	got, err := s.Verify(tokenOf(src))
	if err != nil || got.Kind != KindOpen || got.Claims.Campaign != claims().Campaign || got.Claims.ProfileID != claims().ProfileID ||
		!s.MatchesAddress(got.Claims, claims().Address) {
		t.Fatalf("pixel %s verifies as %+v, %v; want an open link of the recipient's message", src, got, err)
	}
}

func decodeToken(t *testing.T, token string) []byte {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func BenchmarkSignAndVerify(b *testing.B) {
	s, err := NewSigner(base, key1)
	if err != nil {
		b.Fatal(err)
	}
	c := claims()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Verify(tokenOf(s.ClickURL(c, "https://shop.example.co.jp/sale?utm_source=mail"))); err != nil {
			b.Fatal(err)
		}
	}
}
