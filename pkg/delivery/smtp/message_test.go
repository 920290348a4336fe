package smtp

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"

	gomail "github.com/wneessen/go-mail"

	"github.com/kizuna-dev/kizuna/pkg/delivery"
)

func newTestSender(t *testing.T, cfg Config) *Sender {
	t.Helper()
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.From.Address == "" {
		cfg.From = Address{Address: "news@example.co.jp", Name: "絆ストア"}
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// render composes m and parses it back as a receiver would.
func render(t *testing.T, s *Sender, m *delivery.Message) *mail.Message {
	t.Helper()
	msg, err := s.compose(m)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := msg.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(buf.String(), "\r\n") {
		if len(line) > 998 {
			t.Errorf("a line is %d bytes long, more than SMTP's 998: %.60q...", len(line), line)
		}
	}
	parsed, err := mail.ReadMessage(&buf)
	if err != nil {
		t.Fatalf("parse the composed message: %v\n%s", err, buf.String())
	}
	return parsed
}

// part is one decoded MIME part.
type part struct {
	contentType string
	encoding    string
	body        string
}

// parts decodes a message's body: its parts if it is multipart/alternative, else itself.
func parts(t *testing.T, msg *mail.Message) (mediaType string, found []part) {
	t.Helper()
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(mediaType, "multipart/") {
		return mediaType, []part{decodePart(t, msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body)}
	}
	r := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := r.NextRawPart()
		if err == io.EOF {
			return mediaType, found
		}
		if err != nil {
			t.Fatal(err)
		}
		found = append(found, decodePart(t, p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p))
	}
}

func decodePart(t *testing.T, contentType, encoding string, body io.Reader) part {
	t.Helper()
	switch strings.ToLower(encoding) {
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	return part{contentType: contentType, encoding: strings.ToLower(encoding), body: string(b)}
}

func decodeHeader(t *testing.T, value string) string {
	t.Helper()
	decoded, err := new(mime.WordDecoder).DecodeHeader(value)
	if err != nil {
		t.Fatalf("decode header %q: %v", value, err)
	}
	return decoded
}

const (
	japaneseSubject = "【絆ストア】山田太郎様、春の新商品のご案内です。期間限定で全品送料無料、さらに会員様だけの特別クーポンもご用意しました"
	japaneseText    = "山田太郎様\n\nいつも絆ストアをご利用いただき、ありがとうございます。\n"
	japaneseHTML    = "<p>山田太郎様</p><p>いつも<b>絆ストア</b>をご利用いただき、ありがとうございます。</p>"
)

func TestComposeWritesAMultipartJapaneseMessage(t *testing.T) {
	s := newTestSender(t, Config{ReplyTo: Address{Address: "support@example.co.jp", Name: "絆ストア サポート"}})
	msg := render(t, s, &delivery.Message{
		ID:             "c1.r1.p42.s1",
		To:             "taro@example.jp",
		Subject:        japaneseSubject,
		Text:           japaneseText,
		HTML:           japaneseHTML,
		UnsubscribeURL: "https://kizuna.example.co.jp/u/abc?sig=xyz",
		Metadata:       delivery.Metadata{Namespace: "shop", Campaign: "spring", Run: "r1", Step: "welcome", Variant: "b", ProfileID: "p42"},
	})

	from, err := msg.Header.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Name != "絆ストア" || from[0].Address != "news@example.co.jp" {
		t.Errorf("From = %v (%v), want 絆ストア <news@example.co.jp>", from, err)
	}
	replyTo, err := msg.Header.AddressList("Reply-To")
	if err != nil || len(replyTo) != 1 || replyTo[0].Name != "絆ストア サポート" || replyTo[0].Address != "support@example.co.jp" {
		t.Errorf("Reply-To = %v (%v)", replyTo, err)
	}
	if got := decodeHeader(t, msg.Header.Get("Subject")); got != japaneseSubject {
		t.Errorf("Subject = %q, want %q", got, japaneseSubject)
	}
	if raw := msg.Header.Get("Subject"); !strings.Contains(raw, "=?UTF-8?b?") && !strings.Contains(raw, "=?UTF-8?B?") {
		t.Errorf("a Japanese Subject should be B-encoded, the shorter form for it: %q", raw)
	}
	for header, want := range map[string]string{
		"To":                    "<taro@example.jp>",
		"Message-ID":            "<c1.r1.p42.s1@example.co.jp>",
		"List-Unsubscribe":      "<https://kizuna.example.co.jp/u/abc?sig=xyz>",
		"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
		HeaderCampaign:          "shop/spring",
		HeaderRun:               "r1",
		HeaderStep:              "welcome",
		HeaderVariant:           "b",
		HeaderFeedbackID:        "spring:welcome:shop:kizuna",
		"Mime-Version":          "1.0",
	} {
		if got := msg.Header.Get(header); got != want {
			t.Errorf("%s = %q, want %q", header, got, want)
		}
	}
	if _, err := msg.Header.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}

	mediaType, found := parts(t, msg)
	if mediaType != "multipart/alternative" || len(found) != 2 {
		t.Fatalf("body is %s with %d parts, want multipart/alternative with 2", mediaType, len(found))
	}
	// RFC 2046: the richest alternative comes last, so clients that can show HTML do; text
	// travels with CRLF line ends, its canonical form.
	want := []part{
		{contentType: "text/plain; charset=UTF-8", encoding: "base64", body: strings.ReplaceAll(japaneseText, "\n", "\r\n")},
		{contentType: "text/html; charset=UTF-8", encoding: "base64", body: japaneseHTML},
	}
	for i := range want {
		if found[i] != want[i] {
			t.Errorf("part %d = %+v, want %+v", i, found[i], want[i])
		}
	}
}

func TestComposeSinglePartsAndOptionalHeaders(t *testing.T) {
	s := newTestSender(t, Config{MessageIDDomain: "mail.example.com"})
	tests := []struct {
		name string
		m    delivery.Message
		want part
	}{
		{"text only", delivery.Message{Text: "Hello, Taro.\n"},
			part{contentType: "text/plain; charset=UTF-8", encoding: "quoted-printable", body: "Hello, Taro.\r\n"}},
		{"HTML only", delivery.Message{HTML: "<p>こんにちは</p>\n<p>絆</p>"},
			part{contentType: "text/html; charset=UTF-8", encoding: "base64", body: "<p>こんにちは</p>\r\n<p>絆</p>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.m
			m.ID, m.To, m.Subject = "id-1", "hanako@example.jp", "Spring sale"
			msg := render(t, s, &m)
			mediaType, found := parts(t, msg)
			if len(found) != 1 || found[0] != tt.want {
				t.Errorf("body is %s with %+v, want one part %+v", mediaType, found, tt.want)
			}
			if got := msg.Header.Get("Subject"); got != "Spring sale" {
				t.Errorf("an ASCII Subject should stay readable: %q", got)
			}
			if got := msg.Header.Get("Message-ID"); got != "<id-1@mail.example.com>" {
				t.Errorf("Message-ID = %q, want the configured domain", got)
			}
			for _, header := range []string{"List-Unsubscribe", "List-Unsubscribe-Post", "Reply-To", "X-Kizuna-Campaign", "Feedback-ID", "User-Agent", "X-Mailer"} {
				if got := msg.Header.Get(header); got != "" {
					t.Errorf("%s = %q, want none", header, got)
				}
			}
		})
	}
}

// Addresses that Japanese carriers issued before enforcing RFC 5322 still receive mail; the To
// header quotes their local part, as the RFC requires.
func TestComposeQuotesANonRFCLocalPart(t *testing.T) {
	s := newTestSender(t, Config{})
	msg := render(t, s, &delivery.Message{ID: "id-1", To: "taro..yamada.@docomo.ne.jp", Subject: "s", Text: "t"})
	to, err := msg.Header.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Address != "taro..yamada.@docomo.ne.jp" {
		t.Errorf("To = %q parses as %v (%v)", msg.Header.Get("To"), to, err)
	}
}

// Metadata values are encoded when they are not plain ASCII, so that none can add a header.
func TestComposeEncodesMetadataThatCouldBreakAHeader(t *testing.T) {
	s := newTestSender(t, Config{})
	msg := render(t, s, &delivery.Message{ID: "id-1", To: "a@example.jp", Subject: "s", Text: "t",
		Metadata: delivery.Metadata{Namespace: "ns", Campaign: "c", Step: "step\r\nBcc: victim@example.com"}})
	if got := msg.Header.Get("Bcc"); got != "" {
		t.Errorf("a step name injected a Bcc header: %q", got)
	}
	if got := decodeHeader(t, msg.Header.Get("X-Kizuna-Step")); got != "step\r\nBcc: victim@example.com" {
		t.Errorf("X-Kizuna-Step decodes to %q", got)
	}
	if got := msg.Header.Get("Feedback-ID"); got != "c:step--Bcc--victim@example.com:ns:kizuna" {
		t.Errorf("Feedback-ID = %q", got)
	}
}

func TestComposeRefusesMessagesThatCannotBeSent(t *testing.T) {
	s := newTestSender(t, Config{})
	valid := delivery.Message{ID: "id-1", To: "a@example.jp", Subject: "s", Text: "t"}
	tests := []struct {
		name   string
		change func(*delivery.Message)
		want   string
	}{
		{"no ID", func(m *delivery.Message) { m.ID = "" }, "no ID"},
		{"ID with a space", func(m *delivery.Message) { m.ID = "a b" }, `holds ' '`},
		{"ID with an @", func(m *delivery.Message) { m.ID = "a@b" }, `holds '@'`},
		{"ID ending with a dot", func(m *delivery.Message) { m.ID = "a." }, "dot"},
		{"ID too long", func(m *delivery.Message) { m.ID = strings.Repeat("a", 201) }, "under 200"},
		{"no recipient", func(m *delivery.Message) { m.To = "" }, "no recipient"},
		{"recipient without @", func(m *delivery.Message) { m.To = "taro" }, "not an email address"},
		{"recipient with a line break", func(m *delivery.Message) { m.To = "a@example.jp\r\nDATA" }, "character an address cannot"},
		{"recipient without a domain", func(m *delivery.Message) { m.To = "a@localhost" }, "no valid domain"},
		{"no body", func(m *delivery.Message) { m.Text = "" }, "neither a text nor an HTML part"},
		{"relative unsubscribe URL", func(m *delivery.Message) { m.UnsubscribeURL = "/u/abc" }, "absolute"},
		{"unsubscribe URL with >", func(m *delivery.Message) { m.UnsubscribeURL = "https://x.example/u>" }, "percent-encoded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := valid
			tt.change(&m)
			_, err := s.compose(&m)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("compose: %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

func TestTransferEncoding(t *testing.T) {
	tests := []struct {
		text string
		want gomail.Encoding
	}{
		{"", gomail.EncodingQP},
		{"Hello, Taro. Your order has shipped.", gomail.EncodingQP},
		// 1 non-ASCII rune (3 bytes) in 40 ASCII bytes: 5*3 < 40.
		{"Hello, Taro. Your order has shipped 絆 ok", gomail.EncodingQP},
		// 3 bytes in 14: 15 >= 14.
		{"Hello, Taro 様 ok", gomail.EncodingB64},
		{"山田太郎様", gomail.EncodingB64},
	}
	for _, tt := range tests {
		if got := transferEncoding(tt.text); got != tt.want {
			t.Errorf("transferEncoding(%q) = %s, want %s", tt.text, got, tt.want)
		}
	}
}

func TestNewChecksTheConfiguration(t *testing.T) {
	from := Address{Address: "news@example.co.jp"}
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no host", Config{From: from}, "spec.smtp.host"},
		{"port out of range", Config{Host: "h", Port: 70000, From: from}, "spec.smtp.port"},
		{"unknown TLS mode", Config{Host: "h", TLS: "SSL", From: from}, "STARTTLS, TLS or None"},
		{"username without password", Config{Host: "h", Username: "u", From: from}, "key password"},
		{"password without username", Config{Host: "h", Password: "p", From: from}, "key username"},
		{"no from", Config{Host: "h"}, "spec.smtp.from.address"},
		{"from with a display name", Config{Host: "h", From: Address{Address: "Kizuna <news@example.co.jp>"}}, "bare address"},
		{"bad reply-to", Config{Host: "h", From: from, ReplyTo: Address{Address: "support"}}, "spec.smtp.replyTo.address"},
		{"negative pool", Config{Host: "h", From: from, MaxConnections: -1}, "at least 1"},
		{"negative timeout", Config{Host: "h", From: from, Timeout: -1}, "positive"},
		{"bad Message-ID domain", Config{Host: "h", From: from, MessageIDDomain: "a b"}, "not a domain name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}

func TestNewFillsInDefaults(t *testing.T) {
	s := newTestSender(t, Config{Host: "smtp.example.com", From: Address{Address: "news@example.co.jp"}})
	if s.cfg.Port != 587 || s.cfg.TLS != TLSModeSTARTTLS || s.cfg.MaxConnections != 4 || s.cfg.Timeout != DefaultTimeout ||
		s.cfg.MessageIDDomain != "example.co.jp" || s.tlsConfig.ServerName != "smtp.example.com" || cap(s.slots) != 4 {
		t.Errorf("defaults: %+v, TLS server name %q, %d slots", s.cfg, s.tlsConfig.ServerName, cap(s.slots))
	}
}
