package push

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kizuna-dev/kizuna/pkg/delivery"
)

const (
	projectID    = "kizuna-demo"
	clientEmail  = "fcm-sender@kizuna-demo.iam.gserviceaccount.com"
	privateKeyID = "8f3c2b1a0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a"
)

// registeredKey is the service account's key pair, whose public half the token endpoint knows;
// strangerKey is a key Google has never seen.
var registeredKey, strangerKey *rsa.PrivateKey

func TestMain(m *testing.M) {
	var err error
	if registeredKey, err = rsa.GenerateKey(rand.Reader, 2048); err == nil {
		strangerKey, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "generate test keys:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// serviceAccountKey is a JSON key as the Google Cloud console downloads it, with its token_uri
// pointing at the loopback token endpoint.
func serviceAccountKey(t *testing.T, key *rsa.PrivateKey, tokenURI string) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(map[string]string{
		"type":                        "service_account",
		"project_id":                  projectID,
		"private_key_id":              privateKeyID,
		"private_key":                 string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":                clientEmail,
		"client_id":                   "104329826153618345123",
		"auth_uri":                    "https://accounts.google.com/o/oauth2/auth",
		"token_uri":                   tokenURI,
		"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
		"universe_domain":             "googleapis.com",
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// googleAPI is a loopback stand-in for Google's OAuth 2.0 token endpoint and FCM's HTTP v1 send
// endpoint. The token endpoint verifies the JWT bearer assertion as Google documents it (RS256
// signature by the service account's key, iss, scope, aud, iat and exp); the send endpoint
// accepts only tokens it issued and unexpired, checks the message's shape, and answers with
// FCM's error bodies for the registration tokens named below.
type googleAPI struct {
	t        *testing.T
	server   *httptest.Server
	tokenURI string

	mu          sync.Mutex
	expiresIn   int
	tokenStatus int
	issued      map[string]time.Time
	tokenFetch  int
	sent        []map[string]any
}

func newGoogle(t *testing.T) *googleAPI {
	g := &googleAPI{t: t, expiresIn: 3599, issued: map[string]time.Time{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/token", g.token)
	mux.HandleFunc("/v1/projects/{project}/messages:send", g.send)
	g.server = httptest.NewServer(mux)
	g.tokenURI = g.server.URL + "/token"
	t.Cleanup(g.server.Close)
	return g
}

func (g *googleAPI) token(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	g.tokenFetch++
	status, expiresIn := g.tokenStatus, g.expiresIn
	g.mu.Unlock()
	oauthError := func(status int, code, description string) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": description})
	}
	if status != 0 {
		w.Header().Set("Retry-After", "20")
		oauthError(status, "internal_failure", "Backend Error")
		return
	}
	if mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); r.Method != http.MethodPost || mediaType != "application/x-www-form-urlencoded" {
		g.t.Errorf("token: %s with Content-Type %q, want a POSTed form", r.Method, r.Header.Get("Content-Type"))
	}
	if err := r.ParseForm(); err != nil {
		oauthError(http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	if grant := r.PostForm.Get("grant_type"); grant != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		oauthError(http.StatusBadRequest, "unsupported_grant_type", "Invalid grant_type: "+grant)
		return
	}
	if err := g.verifyAssertion(r.PostForm.Get("assertion")); err != nil {
		oauthError(http.StatusBadRequest, "invalid_grant", err.Error())
		return
	}

	var raw [12]byte
	_, _ = rand.Read(raw[:])
	accessToken := "ya29.c." + base64.RawURLEncoding.EncodeToString(raw[:])
	g.mu.Lock()
	g.issued[accessToken] = time.Now().Add(time.Duration(expiresIn) * time.Second)
	g.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": accessToken, "expires_in": expiresIn, "token_type": "Bearer"})
}

// verifyAssertion checks a JWT assertion independently of the oauth2 module.
func (g *googleAPI) verifyAssertion(assertion string) error {
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return errors.New("Invalid JWT: Token must be a short-lived token and in a reasonable timeframe")
	}
	var header struct {
		Alg, Typ, Kid string
	}
	if err := decodeSegment(parts[0], &header); err != nil {
		return err
	}
	if header.Alg != "RS256" || header.Kid != privateKeyID {
		return fmt.Errorf("Invalid JWT header: alg %q kid %q", header.Alg, header.Kid)
	}
	signature, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return err
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(&registeredKey.PublicKey, crypto.SHA256, digest[:], signature); err != nil {
		return errors.New("Invalid JWT Signature.")
	}
	var claims struct {
		Iss, Scope, Aud string
		Iat, Exp        int64
	}
	if err := decodeSegment(parts[1], &claims); err != nil {
		return err
	}
	now := time.Now().Unix()
	switch {
	case claims.Iss != clientEmail:
		return fmt.Errorf("Invalid JWT: iss %q", claims.Iss)
	case claims.Scope != "https://www.googleapis.com/auth/firebase.messaging":
		return fmt.Errorf("Invalid JWT: scope %q", claims.Scope)
	case claims.Aud != g.tokenURI:
		return fmt.Errorf("Invalid JWT: aud %q, want the token URI", claims.Aud)
	case claims.Iat > now+60 || claims.Exp <= now || claims.Exp-claims.Iat > 3600:
		return errors.New("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.")
	}
	return nil
}

func decodeSegment(segment string, into any) error {
	raw, err := base64.RawURLEncoding.DecodeString(segment)
	if err != nil {
		return fmt.Errorf("Invalid JWT segment: %w", err)
	}
	return json.Unmarshal(raw, into)
}

func fcmErrorBody(w http.ResponseWriter, status int, code, message, errorCode string) {
	details := []map[string]any{}
	if errorCode != "" {
		details = append(details, map[string]any{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": errorCode})
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"code": status, "message": message, "status": code, "details": details,
	}})
}

// Registration tokens the send endpoint answers with an error.
const (
	tokenUninstalled  = "fcm-token-uninstalled"
	tokenMalformed    = "fcm-token-malformed"
	tokenOtherProject = "fcm-token-other-project"
	tokenAPNsAuth     = "fcm-token-apns-auth"
	tokenQuota        = "fcm-token-quota"
	tokenUnavailable  = "fcm-token-unavailable"
	tokenInternal     = "fcm-token-internal"
)

func (g *googleAPI) send(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		g.t.Errorf("send: method %s, want POST", r.Method)
	}
	bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	g.mu.Lock()
	expiry, issued := g.issued[bearer]
	g.mu.Unlock()
	if !ok || !issued || time.Now().After(expiry) {
		fcmErrorBody(w, http.StatusUnauthorized, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.", "")
		return
	}
	if project := r.PathValue("project"); project != projectID {
		fcmErrorBody(w, http.StatusForbidden, "PERMISSION_DENIED", fmt.Sprintf("Permission 'cloudmessaging.messages.create' denied on resource '//cloudresourcemanager.googleapis.com/projects/%s'", project), "")
		return
	}
	if mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mediaType != "application/json" {
		g.t.Errorf("send: Content-Type %q, want application/json", r.Header.Get("Content-Type"))
	}
	raw, _ := io.ReadAll(r.Body)
	var body struct {
		Message struct {
			Token        string            `json:"token"`
			Notification map[string]string `json:"notification"`
			Data         map[string]string `json:"data"`
		} `json:"message"`
	}
	decoder := json.NewDecoder(strings.NewReader(string(raw)))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(&body); err != nil {
		g.t.Errorf("send: body %s: %v", raw, err)
		fcmErrorBody(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid JSON payload received. "+err.Error(), "")
		return
	}
	for key := range body.Message.Data {
		if key == "from" || key == "message_type" || strings.HasPrefix(key, "google") || strings.HasPrefix(key, "gcm") {
			fcmErrorBody(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid data key: "+key, "INVALID_ARGUMENT")
			return
		}
	}

	switch body.Message.Token {
	case tokenUninstalled:
		fcmErrorBody(w, http.StatusNotFound, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED")
	case tokenMalformed:
		fcmErrorBody(w, http.StatusBadRequest, "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token", "INVALID_ARGUMENT")
	case tokenOtherProject:
		fcmErrorBody(w, http.StatusForbidden, "PERMISSION_DENIED", "SenderId mismatch", "SENDER_ID_MISMATCH")
	case tokenAPNsAuth:
		fcmErrorBody(w, http.StatusUnauthorized, "UNAUTHENTICATED", "Auth error from APNS or Web Push Service", "THIRD_PARTY_AUTH_ERROR")
	case tokenQuota:
		w.Header().Set("Retry-After", "60")
		fcmErrorBody(w, http.StatusTooManyRequests, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Send requests'", "QUOTA_EXCEEDED")
	case tokenUnavailable:
		w.Header().Set("Retry-After", "30")
		fcmErrorBody(w, http.StatusServiceUnavailable, "UNAVAILABLE", "The service is currently unavailable.", "UNAVAILABLE")
	case tokenInternal:
		fcmErrorBody(w, http.StatusInternalServerError, "INTERNAL", "Internal error encountered.", "INTERNAL")
	default:
		var decoded map[string]any
		_ = json.Unmarshal(raw, &decoded)
		g.mu.Lock()
		g.sent = append(g.sent, decoded)
		n := len(g.sent)
		g.mu.Unlock()
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		_ = json.NewEncoder(w).Encode(map[string]string{"name": fmt.Sprintf("projects/%s/messages/0:15004153144552%02d%%31bd1c9631bd1c96", projectID, n)})
	}
}

func (g *googleAPI) counts() (tokenFetches, sent int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.tokenFetch, len(g.sent)
}

func newSender(t *testing.T, g *googleAPI, key *rsa.PrivateKey) *Sender {
	t.Helper()
	s, err := New(Config{ProjectID: projectID, ServiceAccountKey: serviceAccountKey(t, key, g.tokenURI), Endpoint: g.server.URL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func testMessage(token string) *delivery.Message {
	return &delivery.Message{
		ID: "birthday.r7.p-000042.s2", To: token,
		Subject: "お誕生日おめでとうございます", Text: "山田様、特別クーポンをお届けしました🎁",
		Metadata: delivery.Metadata{Namespace: "kizuna-demo", Campaign: "birthday", Run: "r7", Step: "s2", ProfileID: "p-000042"},
	}
}

func TestSendDeliversTheNotification(t *testing.T) {
	g := newGoogle(t)
	s := newSender(t, g, registeredKey)

	receipt, err := s.Send(context.Background(), testMessage("dGVzdC10b2tlbi1mb3ItYW5kcm9pZA:APA91bHun4MxP5egoKMwt2KZFBaFUH"))
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if want := "projects/kizuna-demo/messages/0:1500415314455201%31bd1c9631bd1c96"; receipt.ProviderMessageID != want {
		t.Errorf("ProviderMessageID = %q, want FCM's name %q", receipt.ProviderMessageID, want)
	}
	g.mu.Lock()
	got := g.sent[0]
	g.mu.Unlock()
	want := map[string]any{"message": map[string]any{
		"token":        "dGVzdC10b2tlbi1mb3ItYW5kcm9pZA:APA91bHun4MxP5egoKMwt2KZFBaFUH",
		"notification": map[string]any{"title": "お誕生日おめでとうございます", "body": "山田様、特別クーポンをお届けしました🎁"},
		"data": map[string]any{
			"messageID": "birthday.r7.p-000042.s2", "namespace": "kizuna-demo", "campaign": "birthday",
			"run": "r7", "step": "s2", "profileID": "p-000042",
		},
	}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("FCM got\n%v\nwant\n%v", got, want)
	}
}

func TestAccessTokenIsCachedAndRefreshed(t *testing.T) {
	g := newGoogle(t)
	s := newSender(t, g, registeredKey)
	for range 3 {
		if _, err := s.Send(context.Background(), testMessage("token-a")); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	if fetches, sent := g.counts(); fetches != 1 || sent != 3 {
		t.Errorf("%d token requests for %d messages, want 1 for 3", fetches, sent)
	}

	// Concurrent first sends share one token request.
	g = newGoogle(t)
	s = newSender(t, g, registeredKey)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := s.Send(context.Background(), testMessage("token-b")); err != nil {
				t.Errorf("Send: %v", err)
			}
		})
	}
	wg.Wait()
	if fetches, sent := g.counts(); fetches != 1 || sent != 8 {
		t.Errorf("%d token requests for %d concurrent messages, want 1 for 8", fetches, sent)
	}

	// A token that expires within oauth2's ten-second margin is treated as expired: the next
	// send must fetch a new one rather than use it.
	g = newGoogle(t)
	g.expiresIn = 5
	s = newSender(t, g, registeredKey)
	for range 2 {
		if _, err := s.Send(context.Background(), testMessage("token-a")); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	if fetches, _ := g.counts(); fetches != 2 {
		t.Errorf("%d token requests for 2 messages with nearly expired tokens, want 2", fetches)
	}
}

func TestFCMErrorsMapToFailures(t *testing.T) {
	tests := []struct {
		token      string
		kind       delivery.Kind
		hardBounce bool
		code       string
		retryAfter time.Duration
		errHas     string
	}{
		{token: tokenUninstalled, kind: delivery.Permanent, hardBounce: true, code: "HTTP 404 UNREGISTERED", errHas: "uninstalled"},
		{token: tokenMalformed, kind: delivery.Permanent, hardBounce: true, code: "HTTP 400 INVALID_ARGUMENT", errHas: "not a valid FCM registration token"},
		{token: tokenOtherProject, kind: delivery.Unauthorized, code: "HTTP 403 SENDER_ID_MISMATCH", errHas: "another Firebase project"},
		{token: tokenAPNsAuth, kind: delivery.Unauthorized, code: "HTTP 401 THIRD_PARTY_AUTH_ERROR", errHas: "APNs"},
		{token: tokenQuota, kind: delivery.Transient, code: "HTTP 429 QUOTA_EXCEEDED", retryAfter: time.Minute},
		{token: tokenUnavailable, kind: delivery.Transient, code: "HTTP 503 UNAVAILABLE", retryAfter: 30 * time.Second},
		{token: tokenInternal, kind: delivery.Transient, code: "HTTP 500 INTERNAL"},
	}
	g := newGoogle(t)
	s := newSender(t, g, registeredKey)
	for _, tt := range tests {
		t.Run(tt.token, func(t *testing.T) {
			_, err := s.Send(context.Background(), testMessage(tt.token))
			if err == nil {
				t.Fatal("Send succeeded, want a failure")
			}
			f := delivery.Classify(err)
			if f.Kind != tt.kind || f.HardBounce != tt.hardBounce || f.Code != tt.code || f.RetryAfter != tt.retryAfter {
				t.Errorf("failure = {%v bounce=%v %q %v}, want {%v bounce=%v %q %v}",
					f.Kind, f.HardBounce, f.Code, f.RetryAfter, tt.kind, tt.hardBounce, tt.code, tt.retryAfter)
			}
			if !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("error %q does not contain %q", err, tt.errHas)
			}
			assertNoCredentials(t, err, g)
		})
	}
}

func TestFCMFailureOfOtherBodies(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string
		kind       delivery.Kind
		hardBounce bool
		code       string
	}{
		{name: "bad data value is not a bounce", status: 400,
			body: `{"error":{"code":400,"message":"Invalid value at 'message.data[0].value' (TYPE_STRING), 12","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.BadRequest","fieldViolations":[{"field":"message.data[0].value","description":"Invalid value"}]}]}}`,
			kind: delivery.Permanent, code: "HTTP 400 INVALID_ARGUMENT"},
		{name: "token field violation is a bounce", status: 400,
			body: `{"error":{"code":400,"message":"Invalid value","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.BadRequest","fieldViolations":[{"field":"message.token","description":"Invalid registration token"}]}]}}`,
			kind: delivery.Permanent, hardBounce: true, code: "HTTP 400 INVALID_ARGUMENT"},
		{name: "permission denied without FCM detail", status: 403,
			body: `{"error":{"code":403,"message":"Permission denied","status":"PERMISSION_DENIED"}}`,
			kind: delivery.Unauthorized, code: "HTTP 403 PERMISSION_DENIED"},
		{name: "HTML from a proxy", status: 502, body: "<html>Bad Gateway</html>", kind: delivery.Transient, code: "HTTP 502"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}))
			t.Cleanup(server.Close)
			g := newGoogle(t)
			s, err := New(Config{ProjectID: projectID, ServiceAccountKey: serviceAccountKey(t, registeredKey, g.tokenURI), Endpoint: server.URL})
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Send(context.Background(), testMessage("token-a"))
			f := delivery.Classify(err)
			if err == nil || f.Kind != tt.kind || f.HardBounce != tt.hardBounce || f.Code != tt.code {
				t.Errorf("Send = %v (bounce=%v), want {%v bounce=%v %q}", err, f.HardBounce, tt.kind, tt.hardBounce, tt.code)
			}
		})
	}
}

func TestTokenFailures(t *testing.T) {
	t.Run("key Google does not know", func(t *testing.T) {
		g := newGoogle(t)
		s := newSender(t, g, strangerKey)
		_, err := s.Send(context.Background(), testMessage("token-a"))
		f := delivery.Classify(err)
		if f.Kind != delivery.Unauthorized || f.Code != "token HTTP 400 invalid_grant" || !strings.Contains(err.Error(), "Invalid JWT Signature") {
			t.Errorf("Send = %v (%q), want an unauthorized invalid_grant failure", err, f.Code)
		}
		if _, sent := g.counts(); sent != 0 {
			t.Errorf("FCM got %d messages without a valid token", sent)
		}
		assertNoCredentials(t, err, g)
	})
	t.Run("token endpoint outage", func(t *testing.T) {
		g := newGoogle(t)
		g.tokenStatus = http.StatusServiceUnavailable
		s := newSender(t, g, registeredKey)
		_, err := s.Send(context.Background(), testMessage("token-a"))
		f := delivery.Classify(err)
		if f.Kind != delivery.Transient || f.RetryAfter != 20*time.Second {
			t.Errorf("Send = %v (retry after %v), want a transient failure after 20s", err, f.RetryAfter)
		}
	})
	t.Run("token endpoint unreachable", func(t *testing.T) {
		g := newGoogle(t)
		s := newSender(t, g, registeredKey)
		g.server.Close()
		_, err := s.Send(context.Background(), testMessage("token-a"))
		if f := delivery.Classify(err); f.Kind != delivery.Transient {
			t.Errorf("Send = %v, want a transient failure", err)
		}
		assertNoCredentials(t, err, g)
	})
}

func TestNewRefusesUnusableKeys(t *testing.T) {
	g := newGoogle(t)
	good := serviceAccountKey(t, registeredKey, g.tokenURI)
	var fields map[string]string
	if err := json.Unmarshal(good, &fields); err != nil {
		t.Fatal(err)
	}
	edited := func(key, value string) []byte {
		copied := map[string]string{}
		for k, v := range fields {
			copied[k] = v
		}
		copied[key] = value
		out, _ := json.Marshal(copied)
		return out
	}
	tests := []struct {
		name      string
		projectID string
		key       []byte
		errHas    string
	}{
		{name: "no project", key: good, errHas: "projectID"},
		{name: "not JSON", projectID: projectID, key: []byte(fields["private_key"]), errHas: "service-account JSON key"},
		{name: "user credentials", projectID: projectID, key: []byte(`{"type":"authorized_user","client_id":"x","client_secret":"y","refresh_token":"z"}`), errHas: "service_account"},
		{name: "no client_email", projectID: projectID, key: edited("client_email", ""), errHas: "client_email"},
		{name: "truncated private key", projectID: projectID, key: edited("private_key", fields["private_key"][:200]), errHas: "PEM"},
		{name: "private key that is not RSA", projectID: projectID, key: edited("private_key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), errHas: "RSA private key"},
		{name: "endpoint with credentials", projectID: projectID, key: good, errHas: "credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{ProjectID: tt.projectID, ServiceAccountKey: tt.key}
			if tt.name == "endpoint with credentials" {
				cfg.Endpoint = "https://user:pw@fcm.googleapis.com"
			}
			_, err := New(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("New = %v, want an error containing %q", err, tt.errHas)
			}
			if strings.Contains(err.Error(), "MII") || strings.Contains(err.Error(), "BEGIN") {
				t.Errorf("error %q quotes the private key", err)
			}
		})
	}
}

func TestSendRefusesEmptyMessages(t *testing.T) {
	g := newGoogle(t)
	s := newSender(t, g, registeredKey)
	for _, m := range []*delivery.Message{{ID: "m1", Text: "hi"}, {ID: "m2", To: "token-a"}} {
		if _, err := s.Send(context.Background(), m); delivery.Classify(err).Kind != delivery.Permanent {
			t.Errorf("Send(%+v) = %v, want a permanent failure", m, err)
		}
	}
	if fetches, sent := g.counts(); fetches != 0 || sent != 0 {
		t.Errorf("%d token requests and %d messages, want none", fetches, sent)
	}
}

// assertNoCredentials checks that an error quotes neither the private key nor an access token.
func assertNoCredentials(t *testing.T, err error, g *googleAPI) {
	t.Helper()
	der, _ := x509.MarshalPKCS8PrivateKey(registeredKey)
	keyText := base64.StdEncoding.EncodeToString(der)
	leaks := []string{"PRIVATE KEY", keyText[40:80], "ya29."}
	g.mu.Lock()
	for token := range g.issued {
		leaks = append(leaks, token)
	}
	g.mu.Unlock()
	for _, leak := range leaks {
		if strings.Contains(err.Error(), leak) {
			t.Errorf("error %q reveals a credential", err)
		}
	}
}
