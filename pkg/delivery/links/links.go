// Package links signs and serves the per-recipient links of marketing messages: one-click
// unsubscribe (RFC 8058), click tracking and open tracking.
//
// A link carries a token: a small binary record of who received which message (Claims), what
// the link is for, and for a click the target it redirects to, followed by a 128-bit HMAC-SHA256
// tag, all in unpadded base64url. The server needs no database to tell a genuine link from a
// forged one, and a click link redirects only to the target it was signed with, so it cannot be
// used as an open redirect. Each token names the key that signed it: a Signer signs with its
// first key and verifies with any of them, so keys rotate by adding a new key first and removing
// the old one once its links no longer matter.
package links

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// MinKeySize is the shortest key a Signer accepts, in bytes: HMAC-SHA256 is as strong as a key of
// up to 32 bytes.
const MinKeySize = 32

const (
	tokenVersion = 1
	keyIDSize    = 4
	// macSize is the truncated tag: 128 bits, beyond any forgery by guessing.
	macSize = 16
	// addressDigestSize is enough to tell the few addresses of one profile apart.
	addressDigestSize = 8
	// maxTokenSize bounds the tokens Verify decodes, in characters; a click token grows with its
	// target, and browsers and mail clients handle URLs of a few KiB at most anyway.
	maxTokenSize = 8192
)

// Kind is what a link does.
type Kind byte

// The kinds of links. A token of one kind is refused where another is expected, so a click
// link cannot unsubscribe.
const (
	KindUnsubscribe Kind = 'u'
	KindClick       Kind = 'c'
	KindOpen        Kind = 'o'
)

// Claims say which message a link belongs to.
type Claims struct {
	Namespace string
	Campaign  string
	Run       string
	Step      string
	ProfileID string
	// ChannelType is the type of the Channel the message went through: SMTP, SMS, LINE, Push.
	ChannelType string
	// Address is the address the message went to. A token carries only a keyed digest of it,
	// because links end up in proxy logs and browser histories where an email address must not:
	// Verify leaves Address empty, and MatchesAddress tells whether an address is the one signed.
	Address string
	// IssuedAt is when the link was signed, to the second.
	IssuedAt time.Time

	addressDigest string
	keyID         [keyIDSize]byte
}

// Token is what a verified token says.
type Token struct {
	Kind   Kind
	Claims Claims
	// Target is where a click link redirects; empty for other kinds.
	Target string
}

// Errors of Verify, wrapped with details.
var (
	ErrMalformed    = errors.New("malformed link token")
	ErrUnknownKey   = errors.New("link token signed with an unknown key")
	ErrBadSignature = errors.New("link token signature does not match")
)

// Signer signs and verifies links. It is safe for concurrent use.
type Signer struct {
	base string
	keys []signingKey
}

type signingKey struct {
	id     [keyIDSize]byte
	secret []byte
}

// NewSigner returns a Signer whose links start with baseURL, the server's public address such as
// https://kizuna.example.co.jp (a path is kept: the handler is then served under it). It signs
// with the first key and verifies with every key; each must be at least MinKeySize random bytes.
func NewSigner(baseURL string, keys ...[]byte) (*Signer, error) {
	u, err := url.Parse(baseURL)
	if err != nil || u.Scheme != "https" && u.Scheme != "http" || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("links: base URL %q must be an http or https URL without credentials, query or fragment, such as https://kizuna.example.co.jp", baseURL)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("links: no key: give at least one key of %d random bytes or more", MinKeySize)
	}
	s := &Signer{base: strings.TrimSuffix(u.String(), "/")}
	for i, secret := range keys {
		if len(secret) < MinKeySize {
			return nil, fmt.Errorf("links: key %d has %d bytes, fewer than %d: generate one with at least %d random bytes, e.g. `openssl rand -base64 48`",
				i+1, len(secret), MinKeySize, MinKeySize)
		}
		k := signingKey{secret: append([]byte(nil), secret...)}
		// The ID is derived from the key, so that keys need no names and a token can say which
		// key signed it without revealing anything of it.
		sum := sha256.Sum256(secret)
		copy(k.id[:], sum[:keyIDSize])
		for j, other := range s.keys {
			if other.id == k.id {
				return nil, fmt.Errorf("links: keys %d and %d are the same key: remove one", j+1, i+1)
			}
		}
		s.keys = append(s.keys, k)
	}
	return s, nil
}

// UnsubscribeURL returns the one-click unsubscribe link of c: {base}/u/{token}.
func (s *Signer) UnsubscribeURL(c Claims) string {
	return s.base + "/u/" + s.sign(KindUnsubscribe, c, "")
}

// ClickURL returns a link that records a click of c and redirects to target: {base}/c/{token}.
// The token binds the target: a link with another target does not verify. The token holds the
// target, so a target of more than about 6 KiB makes a link that Verify refuses as too long.
func (s *Signer) ClickURL(c Claims, target string) string {
	return s.base + "/c/" + s.sign(KindClick, c, target)
}

// OpenURL returns the tracking pixel of c: {base}/o/{token}.gif.
func (s *Signer) OpenURL(c Claims) string {
	return s.base + "/o/" + s.sign(KindOpen, c, "") + ".gif"
}

// Recipient is the links of one message's recipient. Its ClickURL and OpenURL make it the link
// builder of a message template's data.
type Recipient struct {
	signer *Signer
	claims Claims
}

// For returns the links of the message c describes.
func (s *Signer) For(c Claims) Recipient { return Recipient{s, c} }

// UnsubscribeURL returns the recipient's one-click unsubscribe link.
func (r Recipient) UnsubscribeURL() string { return r.signer.UnsubscribeURL(r.claims) }

// ClickURL returns the recipient's click-tracking link to target.
func (r Recipient) ClickURL(target string) string { return r.signer.ClickURL(r.claims, target) }

// OpenURL returns the recipient's tracking pixel.
func (r Recipient) OpenURL() string { return r.signer.OpenURL(r.claims) }

// The token is, in order: version, key ID, kind, IssuedAt in Unix seconds (varint), then
// ChannelType, Namespace, Campaign, Run, Step, ProfileID, the address digest and, for a click,
// the target, each as a uvarint length and its bytes; then the tag over all of it.
func (s *Signer) sign(kind Kind, c Claims, target string) string {
	k := s.keys[0]
	b := make([]byte, 0, 32+len(c.Namespace)+len(c.Campaign)+len(c.Run)+len(c.Step)+len(c.ProfileID)+len(target)+macSize)
	b = append(b, tokenVersion)
	b = append(b, k.id[:]...)
	b = append(b, byte(kind))
	b = binary.AppendVarint(b, c.IssuedAt.Unix())
	for _, field := range []string{c.ChannelType, c.Namespace, c.Campaign, c.Run, c.Step, c.ProfileID} {
		b = appendString(b, field)
	}
	var digest []byte
	if c.Address != "" {
		digest = k.addressDigest(c.Address)
	}
	b = appendString(b, string(digest))
	if kind == KindClick {
		b = appendString(b, target)
	}
	b = append(b, k.mac(b)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func (k signingKey) mac(message []byte) []byte {
	h := hmac.New(sha256.New, k.secret)
	h.Write(message)
	return h.Sum(nil)[:macSize]
}

// addressDigest is keyed, so that nobody without the key can test guesses of the address; its
// input starts with a label, so it is never the tag of a token, whose first byte is the version.
func (k signingKey) addressDigest(address string) []byte {
	h := hmac.New(sha256.New, k.secret)
	h.Write([]byte("address\x00"))
	h.Write([]byte(address))
	return h.Sum(nil)[:addressDigestSize]
}

// Verify checks a token and returns what it says. A token that is truncated or altered, or
// that was signed with a key the Signer does not have, is refused; the tag is compared in
// constant time.
func (s *Signer) Verify(token string) (Token, error) {
	if len(token) > maxTokenSize {
		return Token{}, fmt.Errorf("%w: it is %d characters long, more than %d", ErrMalformed, len(token), maxTokenSize)
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil {
		return Token{}, fmt.Errorf("%w: it is not unpadded base64url: %w", ErrMalformed, err)
	}
	t, signed, err := decode(raw)
	if err != nil {
		return Token{}, err
	}
	k, ok := s.key(t.Claims.keyID)
	if !ok {
		return Token{}, fmt.Errorf("%w: key ID %x is not among the signer's keys", ErrUnknownKey, t.Claims.keyID)
	}
	if !hmac.Equal(k.mac(raw[:signed]), raw[signed:]) {
		return Token{}, ErrBadSignature
	}
	return t, nil
}

// decode reads a token's fields, and returns how many bytes its tag covers.
func decode(raw []byte) (Token, int, error) {
	var t Token
	c := &t.Claims
	r := reader{b: raw}
	if version := r.bytes(1); !r.failed && version[0] != tokenVersion {
		return Token{}, 0, fmt.Errorf("%w: version %d is not supported", ErrMalformed, version[0])
	}
	copy(c.keyID[:], r.bytes(keyIDSize))
	t.Kind = Kind(r.bytes(1)[0])
	c.IssuedAt = time.Unix(r.varint(), 0).UTC()
	for _, field := range []*string{&c.ChannelType, &c.Namespace, &c.Campaign, &c.Run, &c.Step, &c.ProfileID, &c.addressDigest} {
		*field = r.string()
	}
	if t.Kind == KindClick {
		t.Target = r.string()
	}
	if r.failed || len(r.b) < macSize {
		return Token{}, 0, fmt.Errorf("%w: it is truncated", ErrMalformed)
	}
	if len(r.b) > macSize {
		return Token{}, 0, fmt.Errorf("%w: %d bytes follow its tag", ErrMalformed, len(r.b)-macSize)
	}
	switch t.Kind {
	case KindUnsubscribe, KindClick, KindOpen:
	default:
		return Token{}, 0, fmt.Errorf("%w: kind %q is unknown", ErrMalformed, byte(t.Kind))
	}
	return t, len(raw) - macSize, nil
}

func (s *Signer) key(id [keyIDSize]byte) (signingKey, bool) {
	for _, k := range s.keys {
		if k.id == id {
			return k, true
		}
	}
	return signingKey{}, false
}

// MatchesAddress tells whether address is the one the verified claims c were signed with.
func (s *Signer) MatchesAddress(c Claims, address string) bool {
	k, ok := s.key(c.keyID)
	return ok && c.addressDigest != "" && hmac.Equal(k.addressDigest(address), []byte(c.addressDigest))
}

// reader reads a token's fields; a read past the end marks it failed and returns zero values.
type reader struct {
	b      []byte
	failed bool
}

func (r *reader) bytes(n int) []byte {
	if r.failed || len(r.b) < n {
		r.failed = true
		return make([]byte, n)
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if r.failed || n <= 0 {
		r.failed = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) string() string {
	size, n := binary.Uvarint(r.b)
	if r.failed || n <= 0 || size > uint64(len(r.b)-n) {
		r.failed = true
		return ""
	}
	s := string(r.b[n : n+int(size)])
	r.b = r.b[n+int(size):]
	return s
}
