package template

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestMeasureSMS(t *testing.T) {
	tests := []struct {
		name, text string
		want       SMSLength
	}{
		{"empty", "", SMSLength{Encoding: GSM7}},
		{"ASCII", "Hello", SMSLength{GSM7, 5, 1}},
		{"full GSM-7 message", strings.Repeat("a", 160), SMSLength{GSM7, 160, 1}},
		{"one septet too many", strings.Repeat("a", 161), SMSLength{GSM7, 161, 2}},
		{"two full parts", strings.Repeat("a", 306), SMSLength{GSM7, 306, 2}},
		{"three parts", strings.Repeat("a", 307), SMSLength{GSM7, 307, 3}},
		{"extension characters take two septets", "€{}", SMSLength{GSM7, 6, 1}},
		{"an extension character is not split", strings.Repeat("a", 152) + "€" + strings.Repeat("a", 10), SMSLength{GSM7, 164, 2}},
		{"accents outside the alphabet", "Ça coûte 5€? ¿Sí!", SMSLength{UCS2, 17, 1}},
		{"GSM-7 letters", "Ça é ñ ü ß Ø Δ", SMSLength{GSM7, 14, 1}},
		{"Japanese", "山田様、ポイントが失効します", SMSLength{UCS2, 14, 1}},
		{"full UCS-2 message", strings.Repeat("あ", 70), SMSLength{UCS2, 70, 1}},
		{"one unit too many", strings.Repeat("あ", 71), SMSLength{UCS2, 71, 2}},
		{"two full UCS-2 parts", strings.Repeat("あ", 134), SMSLength{UCS2, 134, 2}},
		{"three UCS-2 parts", strings.Repeat("あ", 135), SMSLength{UCS2, 135, 3}},
		{"emoji takes two units", "🎉", SMSLength{UCS2, 2, 1}},
		{"a surrogate pair is not split", strings.Repeat("あ", 66) + "🎉" + strings.Repeat("あ", 3), SMSLength{UCS2, 71, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MeasureSMS(tt.text); got != tt.want {
				t.Fatalf("MeasureSMS(%q) = %+v, want %+v", tt.text, got, tt.want)
			}
		})
	}
}

// The default alphabet has 128 positions, one of them the escape to the extension table.
func TestGSM7Alphabet(t *testing.T) {
	if n := utf8.RuneCountInString(gsm7Basic); n != 127 {
		t.Fatalf("basic alphabet has %d characters, want 127", n)
	}
	seen := map[rune]bool{}
	for _, r := range gsm7Basic + gsm7Extension {
		if seen[r] {
			t.Fatalf("%q appears twice", r)
		}
		seen[r] = true
	}
}
