package template

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// ChannelKind is the type of Channel a message is sent through, named as in Channel.spec.type.
type ChannelKind string

// The channel kinds.
const (
	SMTP    ChannelKind = "SMTP"
	Webhook ChannelKind = "Webhook"
	SMS     ChannelKind = "SMS"
	LINE    ChannelKind = "LINE"
	Push    ChannelKind = "Push"
)

// identifierTypes are the identifier types a profile carries, as IdentifierType in the API
// names them: the keys of Data.Identifiers.
var identifierTypes = []string{
	"Email", "Phone", "CustomerID", "CompanyName", "PersonName", "PostalCode", "LineUserID", "DeviceToken", "Custom",
}

// sampleValue is the value of every attribute of Check's sample recipient: a quote, a backslash
// and a newline show whether a payload quotes and escapes what it prints.
const sampleValue = "見本 \"a\\b\"\n"

// Report is what Check found: problems make the template unusable, warnings are worth knowing.
// Each entry names the part and says what to fix, in a sentence fit for a Campaign's condition.
type Report struct {
	Problems []string
	Warnings []string
	// SMS is the size of an SMS text rendered without any value: the least each message costs.
	// It is set for the SMS channel when the text renders.
	SMS *SMSLength
}

// Err returns the problems as one error, one per line, or nil when there is none.
func (r Report) Err() error {
	if len(r.Problems) == 0 {
		return nil
	}
	return errors.New(strings.Join(r.Problems, "\n"))
}

// Check finds what would go wrong with a template before anything is sent:
//
//   - every part parses;
//   - the parts the channel sends are present: SMTP a subject and a text or html body; SMS and
//     Push a text; LINE a text or a payload (a message object); Webhook a payload, which is the
//     request's whole body;
//   - every attribute a part reads is in known, the attributes the resolution's DataSources
//     declare (a nil known skips this), and every identifier is an identifier type;
//   - every target of track is an absolute http or https URL, and only the html part calls
//     openPixel;
//   - every part renders, and a payload renders valid JSON, for two sample recipients: one
//     whose attributes, identifiers and links are all absent, except the required attributes
//     (recipients without them are not sent the message, see Missing), and one whose every
//     attribute, known or read, is a string with a quote, a backslash and a newline;
//   - for SMS, the size of the text without values, as a warning when it takes several segments.
func Check(parts Parts, required []string, channel ChannelKind, known map[string]bool) Report {
	c := checker{known: known}
	messages := map[Part]*Message{}
	for _, p := range setParts(parts) {
		m, err := Parse(p.only)
		if err != nil {
			c.problem("%v: fix its syntax", err)
			continue
		}
		messages[p.name] = m
	}
	c.channelParts(parts, channel)
	empty := recipient{"a recipient without attributes", Data{Attributes: map[string]any{}}}
	if len(required) > 0 {
		empty.who = fmt.Sprintf("a recipient with only its required attributes, set to %q", sampleValue)
	}
	for _, name := range required {
		empty.data.Attributes[name] = sampleValue
	}
	sample := recipient{fmt.Sprintf("a recipient whose attributes are all %q", sampleValue), c.sampleData(messages)}
	for _, p := range setParts(parts) {
		if m := messages[p.name]; m != nil {
			c.part(p.name, m, channel, empty, sample)
		}
	}
	return c.report
}

// recipient is one of Check's sample recipients, and how messages name it.
type recipient struct {
	who  string
	data Data
}

// renderFix is what to do about a part that fails to render for a sample recipient.
const renderFix = "guard a value that may be missing with {{ with }} or default, or add it to requiredAttributes; " +
	"format a date with localDate rather than its methods (this check gives every attribute a string value)"

func (c *checker) part(name Part, m *Message, channel ChannelKind, samples ...recipient) {
	// Rendering a part with a wrong name fails, or renders gaps, for the cause already reported.
	if !c.reads(name, m.analyses[name]) {
		return
	}
	for _, r := range samples {
		out, err := m.Render(r.data)
		if err != nil {
			c.problem("%s template fails to render for %s (%v): %s", name, r.who, err, renderFix)
			return
		}
		if name == PartPayload && !c.payload(out.Payload, channel, r.who) {
			return
		}
	}
	if name == PartText && channel == SMS {
		c.smsLength(m)
	}
}

type namedPart struct {
	name Part
	only Parts
}

// setParts returns the parts that are set, each alone, in the order problems are reported.
func setParts(in Parts) []namedPart {
	var parts []namedPart
	for _, p := range []namedPart{
		{PartSubject, Parts{Subject: in.Subject}},
		{PartText, Parts{Text: in.Text}},
		{PartHTML, Parts{HTML: in.HTML}},
		{PartPayload, Parts{Payload: in.Payload}},
	} {
		if p.only != (Parts{}) {
			parts = append(parts, p)
		}
	}
	return parts
}

type checker struct {
	known  map[string]bool
	report Report
}

func (c *checker) problem(format string, args ...any) {
	c.report.Problems = append(c.report.Problems, fmt.Sprintf(format, args...))
}

func (c *checker) warning(format string, args ...any) {
	c.report.Warnings = append(c.report.Warnings, fmt.Sprintf(format, args...))
}

// sent are the parts each channel sends. A Webhook posts its payload alone: the receiver gets the
// document the payload describes, and nothing else of the template.
var sent = map[ChannelKind][]Part{
	SMTP:    {PartSubject, PartText, PartHTML},
	SMS:     {PartText},
	LINE:    {PartText, PartPayload},
	Push:    {PartSubject, PartText},
	Webhook: {PartPayload},
}

func (c *checker) channelParts(p Parts, channel ChannelKind) {
	switch channel {
	case SMTP:
		if p.Subject == "" {
			c.problem("the template has no subject, which an SMTP channel's email needs: set subject")
		}
		if p.Text == "" && p.HTML == "" {
			c.problem("the template has no body, which an SMTP channel's email needs: set text, html or both")
		}
	case SMS:
		if p.Text == "" {
			c.problem("the template has no text, which an SMS channel sends: set text")
		}
	case Push:
		if p.Text == "" {
			c.problem("the template has no text, which a Push channel sends as the notification's body: set text")
		}
	case LINE:
		if p.Text == "" && p.Payload == "" {
			c.problem("the template has neither text nor payload, one of which a LINE channel sends: set text, or payload to a LINE message object")
		}
	case Webhook:
		if p.Payload == "" {
			c.problem("the template has no payload, which a Webhook channel posts as the request's body: set payload to the JSON document the receiver expects")
		}
	default:
		c.problem("channel type %q is unknown: use SMTP, Webhook, SMS, LINE or Push", channel)
		return
	}
	set := map[Part]bool{PartSubject: p.Subject != "", PartText: p.Text != "", PartHTML: p.HTML != "", PartPayload: p.Payload != ""}
	for _, part := range []Part{PartSubject, PartText, PartHTML, PartPayload} {
		if set[part] && !slices.Contains(sent[channel], part) {
			c.warning("%s is set, but %s channels do not send it: remove it or use another channel", part, channel)
		}
	}
}

// reads reports the names a part reads that do not exist, and the helpers it calls wrongly, and
// says whether it has none of either.
func (c *checker) reads(part Part, a *analysis) bool {
	problems := len(c.report.Problems)
	for _, f := range a.unknownFields {
		c.problem("%s template reads .%s (%s), which message data does not have: use .Attributes, .Identifiers, .ProfileID, .TimeZone or .Links",
			part, f.what, f.where)
	}
	if c.known != nil {
		for _, name := range a.reads.Attributes {
			if !c.known[name] {
				c.problem("%s template reads attribute %q, which no DataSource of the resolution declares: fix the name or add the attribute%s",
					part, name, c.dottedHint(name))
			}
		}
	}
	for _, id := range a.reads.Identifiers {
		if !slices.Contains(identifierTypes, id) {
			c.problem("%s template reads identifier %q, which is not an identifier type: use one of %s",
				part, id, strings.Join(identifierTypes, ", "))
		}
	}
	for _, t := range a.trackTargets {
		if !isWebURL(t.what) {
			c.problem("%s template calls track with %q (%s): track needs an absolute http or https URL, such as \"https://shop.example.co.jp/sale\"",
				part, t.what, t.where)
		}
	}
	if part != PartHTML {
		for _, where := range a.openPixels {
			c.problem("%s template calls openPixel (%s), which renders an HTML image: call it in the html template only, at the end of its body",
				part, where)
		}
	}
	for _, d := range a.reads.Dynamic {
		c.warning("%s template reads attributes whose names are only known when it renders (%s): they cannot be checked against the DataSources",
			part, d)
	}
	return len(c.report.Problems) == problems
}

// dottedHint explains how to read an attribute whose name has dots: .Attributes.address.city
// looks up "address", then a field of its value.
func (c *checker) dottedHint(name string) string {
	for _, k := range slices.Sorted(maps.Keys(c.known)) {
		if strings.HasPrefix(k, name+".") {
			return fmt.Sprintf(" (an attribute whose name has dots is read with {{ index .Attributes %q }})", k)
		}
	}
	return ""
}

// sampleData returns a recipient whose every attribute (known or read), identifier and link is
// set, so that each part prints something wherever it prints a value.
func (c *checker) sampleData(messages map[Part]*Message) Data {
	d := Data{
		ProfileID:   "sample",
		Attributes:  map[string]any{},
		Identifiers: map[string]string{},
		TimeZone:    "Asia/Tokyo",
		Links:       map[string]string{"unsubscribe": "https://kizuna.example/u/sample"},
	}
	for name := range c.known {
		d.Attributes[name] = sampleValue
	}
	for _, m := range messages {
		for _, a := range m.analyses {
			for _, name := range a.reads.Attributes {
				d.Attributes[name] = sampleValue
			}
			for _, id := range a.reads.Identifiers {
				d.Identifiers[id] = "sample"
			}
		}
	}
	return d
}

// payload checks a rendered payload and says whether it is fine.
func (c *checker) payload(payload string, channel ChannelKind, who string) bool {
	var v any
	if err := json.Unmarshal([]byte(payload), &v); err != nil {
		c.problem("payload renders invalid JSON for %s (%s): print a value inside quotes, \"{{ .Attributes.x }}\", or whole with {{ json .Attributes.x }}",
			who, jsonErrorContext(payload, err))
		return false
	}
	if object, ok := v.(map[string]any); channel == LINE && (!ok || object["type"] == nil) {
		c.problem(`payload is not a LINE message object for %s: write an object with a "type", such as {"type": "flex", "altText": "...", "contents": {...}}`, who)
		return false
	}
	return true
}

// jsonErrorContext describes a JSON error with the text around it.
func jsonErrorContext(payload string, err error) string {
	var syntax *json.SyntaxError
	if !errors.As(err, &syntax) {
		return err.Error()
	}
	start := max(0, int(syntax.Offset)-20)
	end := min(len(payload), int(syntax.Offset)+10)
	return fmt.Sprintf("%v at byte %d, near %q", err, syntax.Offset, strings.ToValidUTF8(payload[start:end], ""))
}

// smsLength measures the text without any value, so that the warning reflects the text the
// author wrote rather than the sample's values.
func (c *checker) smsLength(m *Message) {
	r, err := m.Render(Data{})
	if err != nil {
		return
	}
	length := MeasureSMS(r.Text)
	c.report.SMS = &length
	if length.Segments > 1 {
		single := 160
		if length.Encoding == UCS2 {
			single = 70
		}
		c.warning("text is %d SMS segments before any value is added (%s, %d characters), and each segment is billed: shorten it to %d characters to send one",
			length.Segments, length.Encoding, length.Units, single)
	}
}
