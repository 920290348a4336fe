package template

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"math"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Names of the functions that rewrite appends to printing actions.
const (
	textPrinter       = "_kizuna_text"
	jsonStringPrinter = "_kizuna_json_string"
)

// dataHelpers need the recipient's Data; rewrite passes it to them as their first argument.
var dataHelpers = map[string]bool{"localDate": true, "unsubscribeURL": true, "track": true, "openPixel": true}

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
	"localDate":      localDate,
	"yen":            yen,
	"json":           jsonValue,
	"unsubscribeURL": unsubscribeURL,
	"track":          track,
	"openPixel":      openPixel,
	"upper":          strings.ToUpper,
	"lower":          strings.ToLower,

	textPrinter:       printText,
	jsonStringPrinter: printJSONString,
}

func valueOrEmpty(v any) any {
	if v == nil {
		return ""
	}
	return v
}

// dataOf returns the Data a helper was given as $, or nil inside a template that
// {{ template }} called with another value.
func dataOf(root any) *Data {
	d, _ := root.(*Data)
	return d
}

// localDate formats a time in the recipient's zone, {{ localDate "2006年1月2日" .Attributes.last_order_at }},
// or in a zone of its own, {{ localDate "2006年1月2日" "Asia/Tokyo" .Attributes.last_order_at }}.
// A value that is not a time renders empty.
func localDate(root any, layout string, args ...any) (string, error) {
	var zone string
	var v any
	switch len(args) {
	case 1:
		if d := dataOf(root); d != nil {
			zone = d.TimeZone
		}
		v = args[0]
	case 2:
		z, ok := args[0].(string)
		if !ok {
			return "", fmt.Errorf("localDate: the zone must be a string such as \"Asia/Tokyo\", not %T", args[0])
		}
		zone, v = z, args[1]
	default:
		return "", errors.New("localDate takes a layout, an optional zone and a time: {{ localDate \"2006年1月2日\" .Attributes.x }}")
	}
	t, ok := v.(time.Time)
	if !ok {
		return "", nil
	}
	loc, err := location(zone)
	if err != nil {
		return "", err
	}
	return t.In(loc).Format(layout), nil
}

// locations caches loaded zones: time.LoadLocation reads the zone database on every call.
var locations sync.Map

func location(zone string) (*time.Location, error) {
	if loc, ok := locations.Load(zone); ok {
		return loc.(*time.Location), nil
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return nil, fmt.Errorf("localDate: time zone %q: %w", zone, err)
	}
	locations.Store(zone, loc)
	return loc, nil
}

// yen formats an amount of yen, rounded to the yen: {{ yen .Attributes.total }} → ¥1,234, and
// {{ yen "円" .Attributes.total }} → 1,234円. A value that is not a number renders empty.
func yen(args ...any) (string, error) {
	style := "¥"
	switch len(args) {
	case 1:
	case 2:
		s, ok := args[0].(string)
		if !ok || s != "¥" && s != "円" {
			return "", fmt.Errorf("yen: the style must be \"¥\" or \"円\", not %v", args[0])
		}
		style = s
	default:
		return "", errors.New("yen takes an optional style (\"¥\" or \"円\") and an amount: {{ yen .Attributes.total }}")
	}
	amount, ok := number(args[len(args)-1])
	if !ok {
		return "", nil
	}
	rounded := math.Round(amount)
	sign := ""
	if rounded < 0 {
		sign = "-"
	}
	digits := groupThousands(strconv.FormatFloat(math.Abs(rounded), 'f', 0, 64))
	if style == "円" {
		return sign + digits + "円", nil
	}
	return sign + "¥" + digits, nil
}

// number reads v as a number: any integer or float type, a json.Number, or a string holding a
// number (attributes read from CSV files are often strings).
func number(v any) (float64, bool) {
	var f float64
	switch n := v.(type) {
	case json.Number:
		var err error
		if f, err = n.Float64(); err != nil {
			return 0, false
		}
	case string:
		var err error
		if f, err = strconv.ParseFloat(strings.TrimSpace(n), 64); err != nil {
			return 0, false
		}
	default:
		rv := reflect.ValueOf(v)
		switch rv.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			f = float64(rv.Int())
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			f = float64(rv.Uint())
		case reflect.Float32, reflect.Float64:
			f = rv.Float()
		default:
			return 0, false
		}
	}
	return f, !math.IsNaN(f) && !math.IsInf(f, 0)
}

func groupThousands(digits string) string {
	if len(digits) <= 3 {
		return digits
	}
	var b strings.Builder
	head := len(digits) % 3
	if head == 0 {
		head = 3
	}
	b.WriteString(digits[:head])
	for i := head; i < len(digits); i += 3 {
		b.WriteByte(',')
		b.WriteString(digits[i : i+3])
	}
	return b.String()
}

// jsonValue prints v as a whole JSON value (a quoted string, a number, true, null): in a payload,
// {"points": {{ json .Attributes.points }}}. A missing value is null.
func jsonValue(v any) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Payloads are not HTML: <, > and & stay readable.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", fmt.Errorf("json: %w", err)
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

// unsubscribeURL returns the recipient's signed unsubscribe link.
func unsubscribeURL(root any) string {
	if d := dataOf(root); d != nil {
		return d.Links["unsubscribe"]
	}
	return ""
}

// track returns the recipient's signed click-tracking link to target when the data carries a
// LinkBuilder, and target itself otherwise. Only http and https links are tracked: a mailto: or
// tel: link is returned as written.
func track(root any, target string) string {
	d := dataOf(root)
	if d == nil || d.LinkBuilder == nil || !isWebURL(target) {
		return target
	}
	return d.LinkBuilder.ClickURL(target)
}

// pixelStyle hides the open pixel: the image is one transparent pixel already, and opacity hides
// the frame some clients draw where they block an image. It is not display:none: an image that
// is not displayed need not be fetched.
const pixelStyle = "border:0;margin:0;padding:0;width:1px;height:1px;opacity:0"

// openPixel returns the recipient's open-tracking pixel, an <img> whose loading records that the
// message was displayed: {{ openPixel }} at the end of an HTML body. Without a LinkBuilder (links
// are not configured) it renders nothing. Only an html part may call it, as Check says: in any
// other part it would print markup.
func openPixel(root any) (htmltemplate.HTML, error) {
	d := dataOf(root)
	if d == nil || d.LinkBuilder == nil {
		return "", nil
	}
	src := d.LinkBuilder.OpenURL()
	// html/template prints an HTML value as it is, so the URL is escaped here, and held to the
	// schemes html/template would let into a src.
	if !isWebURL(src) {
		return "", fmt.Errorf("openPixel: the open-tracking URL %q is not an http or https URL", src)
	}
	return htmltemplate.HTML(`<img src="` + htmltemplate.HTMLEscapeString(src) +
		`" width="1" height="1" alt="" style="` + pixelStyle + `">`), nil
}

func isWebURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// printText is how subjects and texts print a value: like text/template, but a missing value is
// empty rather than "<no value>".
func printText(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// printJSONString is how payloads print a value: as the inside of a JSON string, so that a
// profile value with a quote or a newline cannot break the payload.
func printJSONString(v any) string {
	return escapeJSONString(printText(v))
}

func escapeJSONString(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == '\u2028' || r == '\u2029':
			// U+2028 and U+2029 are valid in JSON but end a line in JavaScript.
			fmt.Fprintf(&b, `\u%04x`, r)
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\ufffd`)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
