package template

import "strings"

// SMSEncoding is how an SMS text is encoded on the air.
type SMSEncoding string

const (
	// GSM7 packs characters of the GSM 03.38 alphabet in 7 bits: 160 per single message.
	GSM7 SMSEncoding = "GSM-7"
	// UCS2 is used as soon as one character is outside that alphabet (any kana or kanji): 70 per
	// single message.
	UCS2 SMSEncoding = "UCS-2"
)

// SMSLength is the size of an SMS text, which is what providers bill.
type SMSLength struct {
	Encoding SMSEncoding
	// Units are septets for GSM-7 (a character of the extension table, such as € or {, takes
	// two) or UTF-16 code units for UCS-2 (an emoji takes two).
	Units int
	// Segments is how many messages the text is sent as: one up to 160 septets or 70 units;
	// beyond that, parts of 153 septets or 67 units, because each part carries a header that
	// joins them again. A character is never split between parts.
	Segments int
}

// gsm7Basic and gsm7Extension are the GSM 03.38 default alphabet and its extension table, whose
// characters are sent after an escape septet.
const (
	gsm7Basic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
		"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsm7Extension = "\f^{}\\[~]|€"
)

// MeasureSMS returns the encoding, size and number of segments of an SMS text.
func MeasureSMS(text string) SMSLength {
	costs, encoding := gsm7Costs(text)
	single, part := 160, 153
	if encoding == UCS2 {
		costs = ucs2Costs(text)
		single, part = 70, 67
	}
	units := 0
	for _, c := range costs {
		units += c
	}
	switch {
	case units == 0:
		return SMSLength{Encoding: encoding}
	case units <= single:
		return SMSLength{Encoding: encoding, Units: units, Segments: 1}
	}
	segments, used := 1, 0
	for _, c := range costs {
		if used+c > part {
			segments++
			used = 0
		}
		used += c
	}
	return SMSLength{Encoding: encoding, Units: units, Segments: segments}
}

// gsm7Costs returns the septets of each character, or UCS2 when one is not in the alphabet.
func gsm7Costs(text string) ([]int, SMSEncoding) {
	costs := make([]int, 0, len(text))
	for _, r := range text {
		switch {
		case strings.ContainsRune(gsm7Basic, r):
			costs = append(costs, 1)
		case strings.ContainsRune(gsm7Extension, r):
			costs = append(costs, 2)
		default:
			return nil, UCS2
		}
	}
	return costs, GSM7
}

func ucs2Costs(text string) []int {
	costs := make([]int, 0, len(text))
	for _, r := range text {
		if r > 0xFFFF {
			costs = append(costs, 2)
		} else {
			costs = append(costs, 1)
		}
	}
	return costs
}
