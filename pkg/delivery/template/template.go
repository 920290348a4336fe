// Package template parses and renders the message templates of campaigns: Go templates over a
// recipient's profile, with helpers for Japanese honorifics and dates in the recipient's zone.
// HTML bodies are rendered with contextual escaping, so profile values cannot inject markup.
package template

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
	"time"
)

// Parts are the sources of a message's templates; empty parts are absent.
type Parts struct {
	Subject string
	Text    string
	HTML    string
	Payload string
}

// Data is what a template reads: {{ .Attributes.last_name }}, {{ .Identifiers.Email }}.
type Data struct {
	ProfileID   string
	Attributes  map[string]any
	Identifiers map[string]string
	// TimeZone is the recipient's IANA zone, used by the localDate helper.
	TimeZone string
	// Links holds the signed per-recipient URLs (unsubscribe, tracking).
	Links map[string]string
}

// Message is a parsed set of templates.
type Message struct {
	subject, text, payload *texttemplate.Template
	html                   *htmltemplate.Template
}

// Rendered is a message's parts rendered for one recipient.
type Rendered struct {
	Subject, Text, HTML, Payload string
}

// funcs are the helpers templates may call. They never fail on missing values: a missing
// attribute renders as empty, and RequiredAttributes keeps such recipients out.
var funcs = map[string]any{
	// honorific appends 様 to a name: {{ honorific .Attributes.last_name }} → 山田様.
	"honorific": func(name any) string {
		s := strings.TrimSpace(fmt.Sprint(valueOrEmpty(name)))
		if s == "" {
			return ""
		}
		return s + "様"
	},
	// default returns def when v is missing or empty: {{ default "お客" .Attributes.first_name }}.
	"default": func(def string, v any) any {
		if s := fmt.Sprint(valueOrEmpty(v)); s == "" {
			return def
		}
		return v
	},
	// localDate formats a time in a zone: {{ localDate "2006年1月2日" "Asia/Tokyo" .Attributes.last_order_at }}.
	"localDate": func(layout, zone string, v any) (string, error) {
		t, ok := v.(time.Time)
		if !ok {
			return "", nil
		}
		loc, err := time.LoadLocation(zone)
		if err != nil {
			return "", fmt.Errorf("localDate: time zone %q: %w", zone, err)
		}
		return t.In(loc).Format(layout), nil
	},
	"upper": strings.ToUpper,
	"lower": strings.ToLower,
}

func valueOrEmpty(v any) any {
	if v == nil {
		return ""
	}
	return v
}

// Parse parses every non-empty part. The error names the part that does not parse.
func Parse(p Parts) (*Message, error) {
	var m Message
	var err error
	if m.subject, err = parseText("subject", p.Subject); err != nil {
		return nil, err
	}
	if m.text, err = parseText("text", p.Text); err != nil {
		return nil, err
	}
	if m.payload, err = parseText("payload", p.Payload); err != nil {
		return nil, err
	}
	if p.HTML != "" {
		m.html, err = htmltemplate.New("html").Option("missingkey=zero").Funcs(funcs).Parse(p.HTML)
		if err != nil {
			return nil, fmt.Errorf("html template: %w", err)
		}
	}
	return &m, nil
}

func parseText(name, source string) (*texttemplate.Template, error) {
	if source == "" {
		return nil, nil
	}
	t, err := texttemplate.New(name).Option("missingkey=zero").Funcs(funcs).Parse(source)
	if err != nil {
		return nil, fmt.Errorf("%s template: %w", name, err)
	}
	return t, nil
}

// Render renders the message for one recipient.
func (m *Message) Render(d Data) (Rendered, error) {
	var r Rendered
	var err error
	if r.Subject, err = execute(m.subject, d); err != nil {
		return Rendered{}, err
	}
	if r.Text, err = execute(m.text, d); err != nil {
		return Rendered{}, err
	}
	if r.Payload, err = execute(m.payload, d); err != nil {
		return Rendered{}, err
	}
	if m.html != nil {
		var buf bytes.Buffer
		if err := m.html.Execute(&buf, d); err != nil {
			return Rendered{}, fmt.Errorf("render html: %w", err)
		}
		r.HTML = buf.String()
	}
	return r, nil
}

func execute(t *texttemplate.Template, d Data) (string, error) {
	if t == nil {
		return "", nil
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, d); err != nil {
		return "", fmt.Errorf("render %s: %w", t.Name(), err)
	}
	// missingkey=zero prints "<no value>" for a missing map key in text templates.
	return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
}
