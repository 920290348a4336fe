package links

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"image/gif"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// recorder keeps what the callbacks were told, and fails them with err when it is set.
type recorder struct {
	mu           sync.Mutex
	unsubscribes []Claims
	clicks       []string
	opens        []Claims
	err          error
}

func (r *recorder) callbacks() Callbacks {
	return Callbacks{
		Unsubscribe: func(_ context.Context, c Claims) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.unsubscribes = append(r.unsubscribes, c)
			return r.err
		},
		Click: func(_ context.Context, c Claims, target string) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.clicks = append(r.clicks, c.ProfileID+" "+target)
			return r.err
		},
		Open: func(_ context.Context, c Claims) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.opens = append(r.opens, c)
			return r.err
		},
	}
}

func (r *recorder) counts() (unsubscribes, clicks, opens int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.unsubscribes), len(r.clicks), len(r.opens)
}

// serve starts the handler on loopback; its links point at the server.
func serve(t *testing.T, rec *recorder) (*Signer, *http.Client) {
	t.Helper()
	var handler http.Handler
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(server.Close)
	s, err := NewSigner(server.URL, key1)
	if err != nil {
		t.Fatal(err)
	}
	if handler, err = NewHandler(s, rec.callbacks()); err != nil {
		t.Fatal(err)
	}
	client := server.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return s, client
}

type response struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, client *http.Client, method, link, contentType string, body io.Reader) response {
	t.Helper()
	req, err := http.NewRequest(method, link, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, string(b)}
}

func oneClick(t *testing.T, client *http.Client, link string) response {
	t.Helper()
	return do(t, client, http.MethodPost, link, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
}

func checkPageHeaders(t *testing.T, r response) {
	t.Helper()
	for name, want := range map[string]string{
		"Content-Type":            "text/html; charset=utf-8",
		"Content-Security-Policy": contentSecurityPolicy,
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"Cache-Control":           "no-store",
	} {
		if got := r.header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

// Link scanners and previews fetch every link of a message: a GET shows a page and changes
// nothing.
func TestGetShowsAConfirmationPageAndDoesNotUnsubscribe(t *testing.T) {
	rec := &recorder{}
	s, client := serve(t, rec)
	r := do(t, client, http.MethodGet, s.UnsubscribeURL(claims()), "", nil)
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	checkPageHeaders(t, r)
	for _, want := range []string{"<title>配信停止</title>", "メールでのお知らせの配信を停止します", `<form method="post">`,
		`<input type="hidden" name="List-Unsubscribe" value="One-Click">`, "配信を停止する", "キャンペーン: spring-sale"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("page lacks %q:\n%s", want, r.body)
		}
	}
	if n, _, _ := rec.counts(); n != 0 {
		t.Fatalf("GET unsubscribed %d times", n)
	}
}

// RFC 8058: a mail client POSTs List-Unsubscribe=One-Click to the List-Unsubscribe URL, as
// application/x-www-form-urlencoded or multipart/form-data, without cookies or a page.
func TestOneClickPostFromAMailClient(t *testing.T) {
	multipartBody := &bytes.Buffer{}
	form := multipart.NewWriter(multipartBody)
	if err := form.WriteField("List-Unsubscribe", "One-Click"); err != nil {
		t.Fatal(err)
	}
	if err := form.Close(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, contentType string
		body              io.Reader
	}{
		{"form-urlencoded", "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click")},
		{"multipart", form.FormDataContentType(), multipartBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			s, client := serve(t, rec)
			r := do(t, client, http.MethodPost, s.UnsubscribeURL(claims()), tt.contentType, tt.body)
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			checkPageHeaders(t, r)
			if !strings.Contains(r.body, "<h1>配信を停止しました</h1>") {
				t.Errorf("page does not say the recipient is unsubscribed:\n%s", r.body)
			}
			if len(rec.unsubscribes) != 1 {
				t.Fatalf("%d unsubscribes, want 1", len(rec.unsubscribes))
			}
			got := rec.unsubscribes[0]
			if got.ProfileID != claims().ProfileID || got.Campaign != claims().Campaign || !s.MatchesAddress(got, claims().Address) {
				t.Fatalf("unsubscribed %+v", got)
			}
		})
	}
}

// The page's button posts what a mail client posts.
func TestThePageButtonUnsubscribes(t *testing.T) {
	rec := &recorder{}
	s, client := serve(t, rec)
	link := s.UnsubscribeURL(claims())
	page := do(t, client, http.MethodGet, link, "", nil)
	if !strings.Contains(page.body, `<form method="post">`) {
		t.Fatalf("page has no form posting to itself:\n%s", page.body)
	}
	fields := url.Values{}
	for _, input := range regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]+)">`).FindAllStringSubmatch(page.body, -1) {
		fields.Add(input[1], input[2])
	}
	r := do(t, client, http.MethodPost, link, "application/x-www-form-urlencoded", strings.NewReader(fields.Encode()))
	if r.status != http.StatusOK || len(rec.unsubscribes) != 1 {
		t.Fatalf("posting the page's form: status %d, %d unsubscribes", r.status, len(rec.unsubscribes))
	}
}

func TestUnsubscribePostNeedsOneClick(t *testing.T) {
	rec := &recorder{}
	s, client := serve(t, rec)
	for _, body := range []string{"", "List-Unsubscribe=Yes", "one-click=1"} {
		r := do(t, client, http.MethodPost, s.UnsubscribeURL(claims()), "application/x-www-form-urlencoded", strings.NewReader(body))
		if r.status != http.StatusBadRequest || !strings.Contains(r.body, "List-Unsubscribe=One-Click") {
			t.Errorf("body %q: status %d %q, want 400 naming List-Unsubscribe=One-Click", body, r.status, r.body)
		}
	}
	if n, _, _ := rec.counts(); n != 0 {
		t.Fatalf("%d unsubscribes, want none", n)
	}
}

func TestUnsubscribeBodyIsLimited(t *testing.T) {
	padding := strings.Repeat("x", MaxBodySize)
	multipartBody := &bytes.Buffer{}
	form := multipart.NewWriter(multipartBody)
	_ = form.WriteField("List-Unsubscribe", "One-Click")
	_ = form.WriteField("padding", padding)
	_ = form.Close()
	tests := []struct {
		name, contentType string
		body              io.Reader
	}{
		{"form-urlencoded", "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click&padding=" + padding)},
		{"multipart", form.FormDataContentType(), multipartBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			s, client := serve(t, rec)
			r := do(t, client, http.MethodPost, s.UnsubscribeURL(claims()), tt.contentType, tt.body)
			if r.status != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d %q, want 413", r.status, r.body)
			}
			if n, _, _ := rec.counts(); n != 0 {
				t.Fatalf("%d unsubscribes, want none", n)
			}
		})
	}
}

// Claims come from the signer's caller, not the recipient, but the page escapes them anyway.
func TestThePageEscapesClaims(t *testing.T) {
	rec := &recorder{}
	s, client := serve(t, rec)
	c := claims()
	c.Campaign = `<script>alert("x")</script>`
	c.ChannelType = `<b>`
	r := do(t, client, http.MethodGet, s.UnsubscribeURL(c), "", nil)
	if strings.Contains(r.body, "<script>alert") || strings.Contains(r.body, "<b>") {
		t.Fatalf("page does not escape the claims:\n%s", r.body)
	}
	if !strings.Contains(r.body, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
		t.Fatalf("page does not show the escaped campaign:\n%s", r.body)
	}
}

// The Content-Security-Policy allows exactly the page's style.
func TestContentSecurityPolicyAllowsThePageStyle(t *testing.T) {
	rec := &recorder{}
	s, client := serve(t, rec)
	r := do(t, client, http.MethodGet, s.UnsubscribeURL(claims()), "", nil)
	style := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindStringSubmatch(r.body)
	if style == nil {
		t.Fatalf("page has no style:\n%s", r.body)
	}
	sum := sha256.Sum256([]byte(style[1]))
	if want := "style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(r.header.Get("Content-Security-Policy"), want) {
		t.Fatalf("Content-Security-Policy %q does not contain %q", r.header.Get("Content-Security-Policy"), want)
	}
}

func TestClickRedirectsToTheBoundTargetOnly(t *testing.T) {
	rec := &recorder{}
	s, client := serve(t, rec)
	target := "https://shop.example.co.jp/sale?utm_source=mail&id=%E6%97%A5"
	link := s.ClickURL(claims(), target)
	for _, l := range []string{link, link + "?url=https://evil.example.net/", link + "?target=https://evil.example.net/"} {
		r := do(t, client, http.MethodGet, l, "", nil)
		if r.status != http.StatusFound || r.header.Get("Location") != target {
			t.Fatalf("GET %s: status %d, Location %q; want 302 to %s", l, r.status, r.header.Get("Location"), target)
		}
		if r.header.Get("Referrer-Policy") != "no-referrer" || r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("redirect headers %v", r.header)
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.clicks) != 3 || rec.clicks[0] != claims().ProfileID+" "+target {
		t.Fatalf("clicks %q", rec.clicks)
	}
}

func TestClickToATargetOutsideTheWebIsRefused(t *testing.T) {
	rec := &recorder{}
	s, client := serve(t, rec)
	for _, target := range []string{"javascript:alert(1)", "data:text/html,x", "//evil.example.net/", "/relative"} {
		r := do(t, client, http.MethodGet, s.ClickURL(claims(), target), "", nil)
		if r.status != http.StatusBadRequest || r.header.Get("Location") != "" {
			t.Errorf("target %q: status %d, Location %q; want 400 without redirect", target, r.status, r.header.Get("Location"))
		}
	}
	if _, n, _ := rec.counts(); n != 0 {
		t.Fatalf("%d clicks recorded, want none", n)
	}
}

func TestOpenReturnsATransparentPixel(t *testing.T) {
	rec := &recorder{}
	s, client := serve(t, rec)
	r := do(t, client, http.MethodGet, s.OpenURL(claims()), "", nil)
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "image/gif" || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("status %d, headers %v", r.status, r.header)
	}
	img, err := gif.Decode(strings.NewReader(r.body))
	if err != nil {
		t.Fatalf("not a GIF: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1 || b.Dy() != 1 {
		t.Fatalf("image is %dx%d, want 1x1", b.Dx(), b.Dy())
	}
	if _, _, _, alpha := img.At(0, 0).RGBA(); alpha != 0 {
		t.Fatalf("pixel alpha %d, want transparent", alpha)
	}
	if _, _, n := rec.counts(); n != 1 {
		t.Fatalf("%d opens, want 1", n)
	}
}

func TestInvalidLinksAreNotFound(t *testing.T) {
	rec := &recorder{}
	s, client := serve(t, rec)
	other, err := NewSigner(base, key2)
	if err != nil {
		t.Fatal(err)
	}
	server := strings.TrimSuffix(s.UnsubscribeURL(claims()), "/u/"+tokenOf(s.UnsubscribeURL(claims())))
	unsubscribe := tokenOf(s.UnsubscribeURL(claims()))
	click := tokenOf(s.ClickURL(claims(), "https://shop.example/"))
	open := tokenOf(s.OpenURL(claims()))
	tests := []struct{ method, path string }{
		{http.MethodGet, "/u/garbage"},
		{http.MethodPost, "/u/garbage"},
		{http.MethodGet, "/u/" + tokenOf(other.UnsubscribeURL(claims()))},
		{http.MethodGet, "/u/" + unsubscribe[:len(unsubscribe)-3]},
		{http.MethodGet, "/u/" + click},
		{http.MethodPost, "/u/" + open},
		{http.MethodGet, "/c/" + unsubscribe},
		{http.MethodGet, "/c/" + click[:len(click)-2]},
		{http.MethodGet, "/o/" + unsubscribe + ".gif"},
		{http.MethodGet, "/o/" + open},
		{http.MethodGet, "/o/" + open + ".png"},
	}
	for _, tt := range tests {
		r := do(t, client, tt.method, server+tt.path, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
		if r.status != http.StatusNotFound || r.header.Get("Content-Type") != "text/plain; charset=utf-8" || !strings.Contains(r.body, "This link is not valid.") {
			t.Errorf("%s %s: status %d, %q, %q; want a plain 404", tt.method, tt.path, r.status, r.header.Get("Content-Type"), r.body)
		}
	}
	if u, c, o := rec.counts(); u+c+o != 0 {
		t.Fatalf("callbacks called %d, %d, %d times for invalid links", u, c, o)
	}
}

func TestCallbackErrorsAreServerErrors(t *testing.T) {
	rec := &recorder{err: errors.New("database is down")}
	s, client := serve(t, rec)
	responses := map[string]response{
		"unsubscribe": oneClick(t, client, s.UnsubscribeURL(claims())),
		"click":       do(t, client, http.MethodGet, s.ClickURL(claims(), "https://shop.example/"), "", nil),
		"open":        do(t, client, http.MethodGet, s.OpenURL(claims()), "", nil),
	}
	for name, r := range responses {
		if r.status != http.StatusInternalServerError || r.header.Get("Content-Type") != "text/plain; charset=utf-8" ||
			r.header.Get("Location") != "" || strings.Contains(r.body, "database") {
			t.Errorf("%s: status %d, headers %v, body %q; want a plain 500 that hides the cause", name, r.status, r.header, r.body)
		}
	}
	if u, c, o := rec.counts(); fmt.Sprint(u, c, o) != "1 1 1" {
		t.Fatalf("callbacks called %d, %d, %d times, want once each", u, c, o)
	}
}

func TestNewHandlerNeedsEveryCallback(t *testing.T) {
	s := newSigner(t, key1)
	cb := (&recorder{}).callbacks()
	cb.Open = nil
	if _, err := NewHandler(s, cb); err == nil {
		t.Fatal("NewHandler accepted a missing Open callback")
	}
}
