package template

import (
	"slices"
	"strings"
	"testing"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
)

var known = map[string]bool{
	"last_name": true, "first_name": true, "points": true, "last_order_at": true, "address.city": true,
}

func TestCheckAcceptsGoodTemplates(t *testing.T) {
	tests := []struct {
		name     string
		parts    Parts
		required []string
		channel  ChannelKind
	}{
		{"email", Parts{
			Subject: "{{ honorific .Attributes.last_name }}、ポイントのお知らせ",
			Text:    "{{ default \"お客\" .Attributes.first_name }}様\n{{ yen \"円\" .Attributes.points }}\n{{ unsubscribeURL }}",
			HTML:    `<p>{{ .Attributes.last_name }}様</p><a href="{{ track "https://shop.example.co.jp/" }}">ショップ</a><a href="{{ unsubscribeURL }}">配信停止</a>`,
		}, nil, SMTP},
		{"email with an open pixel", Parts{
			Subject: "ご案内",
			HTML:    `<html><body><p>{{ .Attributes.last_name }}様</p>{{ openPixel }}</body></html>`,
		}, nil, SMTP},
		{"email with a guarded method call", Parts{
			Subject: "{{ with .Attributes.last_order_at }}{{ localDate \"1月2日\" . }}{{ end }}のご注文",
			HTML:    `<p>{{ index .Attributes "address.city" }}</p>`,
		}, nil, SMTP},
		{"short SMS", Parts{Text: "{{ honorific .Attributes.last_name }}、ポイントが失効します"}, nil, SMS},
		{"push", Parts{Subject: "ポイント", Text: "{{ .Attributes.points }}pt"}, nil, Push},
		{"LINE text", Parts{Text: "{{ .Attributes.last_name }}様"}, nil, LINE},
		{"LINE flex message", Parts{Payload: `{"type": "flex", "altText": "{{ .Attributes.last_name }}様へ", "contents": {"type": "bubble"}}`}, nil, LINE},
		{"webhook", Parts{Payload: `{"name": "{{ .Attributes.last_name }}", "points": {{ json .Attributes.points }}, "email": "{{ .Identifiers.Email }}"}`}, nil, Webhook},
		{"required value printed bare", Parts{Payload: `{"name": {{ json .Attributes.last_name }}}`}, []string{"last_name"}, Webhook},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Check(tt.parts, tt.required, tt.channel, known)
			if r.Problems != nil || r.Warnings != nil {
				t.Fatalf("Check() problems %q, warnings %q; want none", r.Problems, r.Warnings)
			}
			if r.Err() != nil {
				t.Fatalf("Err() = %v", r.Err())
			}
		})
	}
}

func TestCheckFindsProblems(t *testing.T) {
	tests := []struct {
		name     string
		parts    Parts
		required []string
		channel  ChannelKind
		known    map[string]bool
		want     []string
	}{
		{"parts that do not parse", Parts{Subject: "{{ .Attributes.x ", Text: "{{ if }}", HTML: "<p>ok</p>"}, nil, SMTP, known, []string{
			`subject template does not parse: subject:1: unclosed action: fix its syntax`,
			`text template does not parse: text:1: missing value for if: fix its syntax`,
		}},
		{"email without subject", Parts{Text: "x"}, nil, SMTP, known, []string{
			"the template has no subject, which an SMTP channel's email needs: set subject",
		}},
		{"email without body", Parts{Subject: "x"}, nil, SMTP, known, []string{
			"the template has no body, which an SMTP channel's email needs: set text, html or both",
		}},
		{"SMS without text", Parts{Payload: "{}"}, nil, SMS, known, []string{
			"the template has no text, which an SMS channel sends: set text",
		}},
		{"push without text", Parts{Subject: "x"}, nil, Push, known, []string{
			"the template has no text, which a Push channel sends as the notification's body: set text",
		}},
		{"webhook without payload", Parts{Subject: "s", Text: "t"}, nil, Webhook, known, []string{
			"the template has no payload, which a Webhook channel posts as the request's body: set payload to the JSON document the receiver expects",
		}},
		{"LINE with neither", Parts{HTML: "<p>x</p>"}, nil, LINE, known, []string{
			"the template has neither text nor payload, one of which a LINE channel sends: set text, or payload to a LINE message object",
		}},
		{"unknown channel", Parts{Text: "x"}, nil, "Fax", known, []string{
			`channel type "Fax" is unknown: use SMTP, Webhook, SMS, LINE or Push`,
		}},
		{"misspelt attribute", Parts{Subject: "x", HTML: "<p>{{ .Attributes.frist_name }}</p>"}, nil, SMTP, known, []string{
			`html template reads attribute "frist_name", which no DataSource of the resolution declares: fix the name or add the attribute`,
		}},
		{"attribute with dots", Parts{Text: "{{ .Attributes.address.city }}"}, nil, SMS, known, []string{
			`text template reads attribute "address", which no DataSource of the resolution declares: fix the name or add the attribute` +
				` (an attribute whose name has dots is read with {{ index .Attributes "address.city" }})`,
		}},
		{"misspelt identifier", Parts{Text: "{{ .Identifiers.email }}"}, nil, SMS, known, []string{
			`text template reads identifier "email", which is not an identifier type: use one of Email, Phone, CustomerID, CompanyName, PersonName, PostalCode, LineUserID, DeviceToken, Custom`,
		}},
		{"misspelt field", Parts{Text: "x\n{{ .Attrs.last_name }}"}, nil, SMS, known, []string{
			"text template reads .Attrs (text:2:9), which message data does not have: use .Attributes, .Identifiers, .ProfileID, .TimeZone or .Links",
		}},
		{"relative track target", Parts{Subject: "x", HTML: `<a href="{{ track "/sale" }}">`}, nil, SMTP, known, []string{
			`html template calls track with "/sale" (html:1:12): track needs an absolute http or https URL, such as "https://shop.example.co.jp/sale"`,
		}},
		{"open pixel outside html", Parts{Subject: "{{ openPixel }}", Text: "x\n{{ printf \"%s\" openPixel }}", HTML: "<p>{{ openPixel }}</p>"}, nil, SMTP, known, []string{
			"subject template calls openPixel (subject:1:3), which renders an HTML image: call it in the html template only, at the end of its body",
			"text template calls openPixel (text:2:15), which renders an HTML image: call it in the html template only, at the end of its body",
		}},
		{"open pixel in a payload", Parts{Payload: `{"body": "{{ openPixel }}"}`}, nil, Webhook, known, []string{
			"payload template calls openPixel (payload:1:13), which renders an HTML image: call it in the html template only, at the end of its body",
		}},
		{"value that must be there", Parts{Text: "{{ .Attributes.last_order_at.Year }}"}, nil, SMS, known, []string{
			"text template fails to render for a recipient without attributes (render text: template: text:1:14: executing \"text\" at <.Attributes.last_order_at.Year>: nil pointer evaluating interface {}.Year): " +
				renderFix,
		}},
		{"method of a date", Parts{Text: `{{ .Attributes.last_order_at.Format "1月2日" }}`}, []string{"last_order_at"}, SMS, known, []string{
			"text template fails to render for a recipient with only its required attributes, set to \"見本 \\\"a\\\\b\\\"\\n\" (render text: template: text:1:14: executing \"text\" at <.Attributes.last_order_at.Format>: can't evaluate field Format in type interface {}): " +
				renderFix,
		}},
		{"payload value outside quotes", Parts{Payload: `{"name": {{ .Attributes.last_name }}}`}, nil, Webhook, known, []string{
			`payload renders invalid JSON for a recipient without attributes (invalid character '}' looking for beginning of value at byte 10, near "{\"name\": }"): print a value inside quotes, "{{ .Attributes.x }}", or whole with {{ json .Attributes.x }}`,
		}},
		{"required payload value outside quotes", Parts{Payload: `{"name": {{ .Attributes.last_name }}}`}, []string{"last_name"}, Webhook, known, []string{
			`payload renders invalid JSON for a recipient with only its required attributes, set to "見本 \"a\\b\"\n" (invalid character 'è' looking for beginning of value at byte 10, near "{\"name\": 見本 \\\"a\\"): print a value inside quotes, "{{ .Attributes.x }}", or whole with {{ json .Attributes.x }}`,
		}},
		{"LINE payload that is not a message", Parts{Payload: `["{{ .Attributes.last_name }}"]`}, nil, LINE, known, []string{
			`payload is not a LINE message object for a recipient without attributes: write an object with a "type", such as {"type": "flex", "altText": "...", "contents": {...}}`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Check(tt.parts, tt.required, tt.channel, tt.known)
			if !slices.Equal(r.Problems, tt.want) {
				t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(r.Problems, "\n"), strings.Join(tt.want, "\n"))
			}
			if err := r.Err(); err == nil || err.Error() != strings.Join(tt.want, "\n") {
				t.Fatalf("Err() = %v, want the problems one per line", err)
			}
		})
	}
}

// html/template finds some problems only when it escapes, on the first render.
func TestCheckFindsHTMLThatCannotBeEscaped(t *testing.T) {
	r := Check(Parts{Subject: "x", HTML: `<p title="{{ .Attributes.last_name }}>`}, nil, SMTP, known)
	if len(r.Problems) != 1 || !strings.HasPrefix(r.Problems[0], "html template fails to render") ||
		!strings.Contains(r.Problems[0], "ends in a non-text context") {
		t.Fatalf("problems %q, want the HTML's unclosed attribute", r.Problems)
	}
}

func TestCheckWithoutKnownAttributesSkipsThem(t *testing.T) {
	r := Check(Parts{Text: "{{ .Attributes.anything }}"}, nil, SMS, nil)
	if r.Problems != nil {
		t.Fatalf("problems %q, want none", r.Problems)
	}
	r = Check(Parts{Text: "{{ .Attributes.anything }}"}, nil, SMS, map[string]bool{})
	if len(r.Problems) != 1 {
		t.Fatalf("problems %q, want one: an empty known declares nothing", r.Problems)
	}
}

func TestCheckWarnings(t *testing.T) {
	tests := []struct {
		name    string
		parts   Parts
		channel ChannelKind
		want    []string
	}{
		{"parts the channel does not send", Parts{Subject: "s", Text: "t", HTML: "<p>h</p>"}, SMS, []string{
			"subject is set, but SMS channels do not send it: remove it or use another channel",
			"html is set, but SMS channels do not send it: remove it or use another channel",
		}},
		{"parts a webhook does not send", Parts{Subject: "s", Text: "t", HTML: "<p>h</p>", Payload: "{}"}, Webhook, []string{
			"subject is set, but Webhook channels do not send it: remove it or use another channel",
			"text is set, but Webhook channels do not send it: remove it or use another channel",
			"html is set, but Webhook channels do not send it: remove it or use another channel",
		}},
		{"dynamic attribute", Parts{Text: `{{ with .Attributes.key }}{{ index $.Attributes . }}{{ end }}`}, Push, []string{
			"text template reads attributes whose names are only known when it renders (text:1:29: index $.Attributes .): they cannot be checked against the DataSources",
		}},
		{"long SMS", Parts{Text: strings.Repeat("あ", 71) + "{{ .Attributes.last_name }}"}, SMS, []string{
			"text is 2 SMS segments before any value is added (UCS-2, 71 characters), and each segment is billed: shorten it to 70 characters to send one",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Check(tt.parts, nil, tt.channel, map[string]bool{"key": true, "last_name": true})
			if r.Problems != nil {
				t.Fatalf("problems %q, want none", r.Problems)
			}
			if !slices.Equal(r.Warnings, tt.want) {
				t.Fatalf("warnings:\n%s\nwant:\n%s", strings.Join(r.Warnings, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestCheckMeasuresSMS(t *testing.T) {
	r := Check(Parts{Text: "Sale! {{ .Attributes.last_name }} 50% off"}, nil, SMS, known)
	if r.SMS == nil || *r.SMS != (SMSLength{Encoding: GSM7, Units: 14, Segments: 1}) {
		t.Fatalf("SMS = %+v, want 14 GSM-7 septets in one segment", r.SMS)
	}
	if r := Check(Parts{Subject: "x", Text: "t"}, nil, SMTP, known); r.SMS != nil {
		t.Fatalf("SMS = %+v for an email, want nil", r.SMS)
	}
}

// The names Check accepts are the API's: Channel.spec.type and the identifier types.
func TestNamesMatchTheAPI(t *testing.T) {
	channels := []ChannelKind{SMTP, Webhook, SMS, LINE, Push}
	api := []cdpv1alpha1.ChannelType{cdpv1alpha1.ChannelSMTP, cdpv1alpha1.ChannelWebhook, cdpv1alpha1.ChannelSMS,
		cdpv1alpha1.ChannelLINE, cdpv1alpha1.ChannelPush}
	for i, c := range api {
		if string(c) != string(channels[i]) {
			t.Errorf("channel kind %q, API channel type %q", channels[i], c)
		}
	}
	apiIdentifiers := []cdpv1alpha1.IdentifierType{cdpv1alpha1.IdentifierEmail, cdpv1alpha1.IdentifierPhone,
		cdpv1alpha1.IdentifierCustomerID, cdpv1alpha1.IdentifierCompanyName, cdpv1alpha1.IdentifierPersonName,
		cdpv1alpha1.IdentifierPostalCode, cdpv1alpha1.IdentifierLineUserID, cdpv1alpha1.IdentifierDeviceToken,
		cdpv1alpha1.IdentifierCustom}
	if len(apiIdentifiers) != len(identifierTypes) {
		t.Fatalf("%d identifier types, the API has %d", len(identifierTypes), len(apiIdentifiers))
	}
	for i, id := range apiIdentifiers {
		if string(id) != identifierTypes[i] {
			t.Errorf("identifier type %q, API %q", identifierTypes[i], id)
		}
	}
}
