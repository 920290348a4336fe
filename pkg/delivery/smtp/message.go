package smtp

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strings"
	"unicode/utf8"

	gomail "github.com/wneessen/go-mail"

	"github.com/kizuna-dev/kizuna/pkg/delivery"
)

// Headers that identify a message's campaign to its receivers and to Kizuna's bounce handling.
const (
	HeaderCampaign = "X-Kizuna-Campaign" // namespace/campaign
	HeaderRun      = "X-Kizuna-Run"
	HeaderStep     = "X-Kizuna-Step"
	HeaderVariant  = "X-Kizuna-Variant"
	// HeaderFeedbackID is read by Gmail's Postmaster Tools to report spam rates per campaign:
	// "campaign:step:namespace:kizuna", the last field being the sender's constant identifier.
	HeaderFeedbackID = "Feedback-ID"
)

// compose builds the MIME message for m: multipart/alternative when it has both a text and an
// HTML part, UTF-8 throughout.
func (s *Sender) compose(m *delivery.Message) (*gomail.Msg, error) {
	if err := checkMessageIDLocalPart(m.ID); err != nil {
		return nil, err
	}
	if err := checkRecipient(m.To); err != nil {
		return nil, err
	}
	if m.Text == "" && m.HTML == "" {
		return nil, errors.New("the message has neither a text nor an HTML part: the campaign step's template renders an empty email")
	}
	if m.UnsubscribeURL != "" {
		if err := checkUnsubscribeURL(m.UnsubscribeURL); err != nil {
			return nil, err
		}
	}

	// The message's encoding is the one its Subject is encoded with (RFC 2047 B or Q); each
	// part chooses its own.
	msg := gomail.NewMsg(gomail.WithCharset(gomail.CharsetUTF8), gomail.WithEncoding(transferEncoding(m.Subject)),
		gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(&mail.Address{Name: s.cfg.From.Name, Address: s.cfg.From.Address})
	// The recipient is set without parsing: net/mail refuses addresses that Japanese carriers
	// issued before they enforced RFC 5322 (taro..yamada.@docomo.ne.jp), and formatting quotes
	// their local part as the RFC requires.
	msg.SetAddrHeaderFromMailAddress(gomail.HeaderTo, &mail.Address{Address: m.To})
	if s.cfg.ReplyTo.Address != "" {
		msg.ReplyToMailAddress(&mail.Address{Name: s.cfg.ReplyTo.Name, Address: s.cfg.ReplyTo.Address})
	}
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(m.ID + "@" + s.cfg.MessageIDDomain)
	msg.SetDate()
	if m.UnsubscribeURL != "" {
		// RFC 8058 one-click unsubscribe: mailbox providers POST List-Unsubscribe=One-Click to
		// the URL, without a confirmation page.
		msg.SetGenHeaderPreformatted(gomail.HeaderListUnsubscribe, "<"+m.UnsubscribeURL+">")
		msg.SetGenHeaderPreformatted(gomail.HeaderListUnsubscribePost, "List-Unsubscribe=One-Click")
	}
	setMetadata(msg, m.Metadata)

	text, html := crlf(m.Text), crlf(m.HTML)
	textOpt := gomail.WithPartEncoding(transferEncoding(text))
	htmlOpt := gomail.WithPartEncoding(transferEncoding(html))
	switch {
	case text != "" && html != "":
		msg.SetBodyString(gomail.TypeTextPlain, text, textOpt)
		msg.AddAlternativeString(gomail.TypeTextHTML, html, htmlOpt)
	case text != "":
		msg.SetBodyString(gomail.TypeTextPlain, text, textOpt)
	default:
		msg.SetBodyString(gomail.TypeTextHTML, html, htmlOpt)
	}
	return msg, nil
}

// crlf ends every line with CRLF, the canonical form of text in MIME (RFC 2046 section 4.1.1):
// quoted-printable writes line ends that way by itself, base64 carries the bytes it is given.
func crlf(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
}

// setMetadata writes the headers that identify the campaign. go-mail encodes any value that is
// not printable ASCII, so no value can break a header line.
func setMetadata(msg *gomail.Msg, md delivery.Metadata) {
	if md.Campaign != "" {
		msg.SetGenHeader(gomail.Header(HeaderCampaign), md.Namespace+"/"+md.Campaign)
		msg.SetGenHeader(gomail.Header(HeaderFeedbackID), feedbackID(md))
	}
	for header, value := range map[string]string{HeaderRun: md.Run, HeaderStep: md.Step, HeaderVariant: md.Variant} {
		if value != "" {
			msg.SetGenHeader(gomail.Header(header), value)
		}
	}
}

// feedbackID is "campaign:step:namespace:kizuna". Colons separate its fields, so none may
// appear inside one.
func feedbackID(md delivery.Metadata) string {
	field := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r == ':' || r <= ' ' || r > '~' {
				return '-'
			}
			return r
		}, s)
	}
	return field(md.Campaign) + ":" + field(md.Step) + ":" + field(md.Namespace) + ":kizuna"
}

// transferEncoding chooses how a text travels in 7-bit SMTP. Quoted-printable keeps ASCII
// readable but spends three bytes on each other byte; base64 spends four bytes on every three.
// With a ASCII bytes and n others, quoted-printable is shorter while a+3n < 4(a+n)/3, that is
// while 5n < a: mostly-English text stays quoted-printable, Japanese text goes base64.
func transferEncoding(s string) gomail.Encoding {
	ascii, other := 0, 0
	for i := range len(s) {
		if s[i] < utf8.RuneSelf {
			ascii++
		} else {
			other++
		}
	}
	if 5*other < ascii || other == 0 {
		return gomail.EncodingQP
	}
	return gomail.EncodingB64
}

// checkMessageIDLocalPart accepts IDs that can stand before the @ of a Message-ID unquoted: a
// dot-atom (RFC 5322 section 3.6.4).
func checkMessageIDLocalPart(id string) error {
	if id == "" {
		return errors.New("the message has no ID, so it would get no stable Message-ID")
	}
	if len(id) > 200 {
		return fmt.Errorf("message ID %.20q... is %d bytes long; a Message-ID's left part must stay under 200", id, len(id))
	}
	if id[0] == '.' || id[len(id)-1] == '.' || strings.Contains(id, "..") {
		return fmt.Errorf("message ID %q cannot start or end with a dot or hold two in a row", id)
	}
	for _, r := range id {
		if r != '.' && !isAtext(r) {
			return fmt.Errorf("message ID %q holds %q, which a Message-ID cannot", id, r)
		}
	}
	return nil
}

// isAtext reports whether r may appear in an RFC 5322 atom.
func isAtext(r rune) bool {
	return isAlphanumeric(r) || strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", r)
}

// isAlphanumeric reports whether r is an ASCII letter or digit.
func isAlphanumeric(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

// checkRecipient accepts what can be an envelope recipient: text, an @ and a domain with a dot,
// and nothing that would break the RCPT TO line. Internationalized domains and local parts pass
// as they are: go-mail announces SMTPUTF8 to servers that support it.
func checkRecipient(to string) error {
	if to == "" {
		return errors.New("the message has no recipient address")
	}
	at := strings.LastIndexByte(to, '@')
	if at <= 0 || at == len(to)-1 {
		return fmt.Errorf("recipient %q is not an email address", to)
	}
	if strings.ContainsAny(to, " \t\r\n<>,;\"()[]\\") {
		return fmt.Errorf("recipient %q holds a space or a character an address cannot", to)
	}
	if domain := to[at+1:]; !strings.Contains(domain, ".") || strings.Contains(domain, "..") {
		return fmt.Errorf("recipient %q has no valid domain", to)
	}
	return nil
}

// validDomain accepts an ASCII host name of letters, digits, hyphens and dots, with at least one
// dot.
func validDomain(d string) bool {
	if len(d) == 0 || len(d) > 253 || !strings.Contains(d, ".") {
		return false
	}
	for label := range strings.SplitSeq(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if r != '-' && !isAlphanumeric(r) {
				return false
			}
		}
	}
	return true
}

// checkUnsubscribeURL accepts an absolute http(s) URL that fits between the angle brackets of
// List-Unsubscribe.
func checkUnsubscribeURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("unsubscribe URL %q is not an absolute https:// URL", raw)
	}
	for _, r := range raw {
		if r <= ' ' || r > '~' || r == '<' || r == '>' {
			return fmt.Errorf("unsubscribe URL %q holds %q: List-Unsubscribe needs it percent-encoded", raw, r)
		}
	}
	return nil
}
