// Package linkserver serves the signed links in Kizuna's messages for every namespace: the
// unsubscribe page and RFC 8058 one-click unsubscribe, click redirects and the open pixel. Each
// namespace signs its links with a key of its own, kept in a Secret there, so a link's URL names
// its namespace (https://kizuna.example.jp/{namespace}/u/{token}) and the server verifies it with
// that namespace's key. An unsubscribe is recorded in the store as a refused consent, which every
// later delivery reads before it sends; a click or an open as an event of the campaign, which
// segments can select.
package linkserver

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/kizuna-dev/kizuna/pkg/delivery/links"
	"github.com/kizuna-dev/kizuna/pkg/store"
)

// Server routes /{namespace}/... to the links handler of that namespace.
type Server struct {
	Store store.Store
	// BaseURL is the public address the links start with, without the namespace.
	BaseURL string
	// Key returns a namespace's link signing key; an error answers the request with 404, since
	// a namespace without a key has no valid links.
	Key func(ctx context.Context, namespace string) ([]byte, error)
	Now func() time.Time
	// KeyTTL is how long a namespace's key is used before it is read again. Defaults to a minute.
	KeyTTL time.Duration
	// Log receives the opens and clicks that could not be recorded.
	Log logr.Logger

	mu       sync.Mutex
	handlers map[string]cachedHandler
}

type cachedHandler struct {
	handler http.Handler
	until   time.Time
}

// namespacePattern is a Kubernetes namespace name.
var namespacePattern = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

// NamespaceBaseURL is the base URL of the links signed for a namespace.
func NamespaceBaseURL(base, namespace string) string {
	return strings.TrimRight(base, "/") + "/" + namespace
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	namespace, rest, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if !ok || !namespacePattern.MatchString(namespace) {
		http.NotFound(w, r)
		return
	}
	h, err := s.handler(r.Context(), namespace)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path = "/" + rest
	r2.URL.RawPath = ""
	h.ServeHTTP(w, r2)
}

// handler returns the namespace's links handler, built with its current key.
func (s *Server) handler(ctx context.Context, namespace string) (http.Handler, error) {
	now := s.now()
	s.mu.Lock()
	cached, ok := s.handlers[namespace]
	s.mu.Unlock()
	if ok && now.Before(cached.until) {
		return cached.handler, nil
	}
	key, err := s.Key(ctx, namespace)
	if err != nil {
		return nil, err
	}
	signer, err := links.NewSigner(NamespaceBaseURL(s.BaseURL, namespace), key)
	if err != nil {
		return nil, fmt.Errorf("namespace %s: %w", namespace, err)
	}
	h, err := links.NewHandler(signer, links.Callbacks{
		Unsubscribe: func(ctx context.Context, c links.Claims) error {
			return s.Store.RecordConsent(ctx, store.Consent{
				Namespace: namespace, ProfileID: c.ProfileID, ChannelType: c.ChannelType, Purpose: "Marketing",
				Granted: false, RecordedAt: s.now(), Source: "unsubscribe/" + c.Campaign,
			})
		},
		Click: func(ctx context.Context, c links.Claims, target string) error {
			return s.recordEngagement(ctx, namespace, c, store.EventMessageClicked, target)
		},
		Open: func(ctx context.Context, c links.Claims) error {
			return s.recordEngagement(ctx, namespace, c, store.EventMessageOpened, "")
		},
	})
	if err != nil {
		return nil, err
	}
	ttl := s.KeyTTL
	if ttl <= 0 {
		ttl = time.Minute
	}
	s.mu.Lock()
	if s.handlers == nil {
		s.handlers = map[string]cachedHandler{}
	}
	s.handlers[namespace] = cachedHandler{handler: h, until: now.Add(ttl)}
	s.mu.Unlock()
	return h, nil
}

// recordEngagement records an open or a click of the message of c as an event, so that a
// segment can select who opened a campaign or clicked in it. The namespace is the URL's, whose
// key verified the link. A store that cannot record it is logged, not answered: the customer
// still reaches the page (or the pixel loads), since a tracked link must never break while the
// database is away; the event is lost.
func (s *Server) recordEngagement(ctx context.Context, namespace string, c links.Claims, eventType, target string) error {
	_, err := s.Store.RecordEngagements(ctx, []store.Engagement{{
		Namespace: namespace, Campaign: c.Campaign, Run: c.Run, ProfileID: c.ProfileID, Step: c.Step,
		Type: eventType, ChannelType: c.ChannelType, URL: target, At: s.now(),
	}})
	if err != nil {
		s.Log.Error(err, "record an engagement", "namespace", namespace, "campaign", c.Campaign, "type", eventType)
	}
	return nil
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}
