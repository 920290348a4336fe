package ingest

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestMapRecord(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	m := Mapping{
		RecordKey:   "id",
		Identifiers: []IdentifierColumn{{Column: "email", Type: "Email"}, {Column: "email2", Type: "Email"}, {Column: "tel", Type: "Phone"}},
		Attributes: []AttributeColumn{
			{Name: "name", Column: "name", Type: TypeString},
			{Name: "spend", Column: "spend", Type: TypeNumber},
			{Name: "vip", Column: "vip", Type: TypeBoolean},
			{Name: "birthday", Column: "birthday", Type: TypeDate},
			{Name: "joined_at", Column: "joined", Type: TypeTimestamp, Layout: "2006/01/02 15:04", Location: tokyo},
			{Name: "memo", Column: "memo", Type: TypeString},
		},
	}
	row := &Row{Number: 2, Fields: map[string]any{
		"id": " C-001 ", "email": "Taro@Example.co.jp", "email2": "taro@kizuna.example", "tel": "",
		"name": "山田 太郎", "spend": "１２,３４５", "vip": "はい", "birthday": "1990/04/01",
		"joined": "2026/01/31 09:00", "memo": "   ",
	}}
	r, err := m.MapRecord(row)
	if err != nil {
		t.Fatal(err)
	}
	if r.Key != "C-001" {
		t.Errorf("key = %q", r.Key)
	}
	if got := r.Identifiers["Email"]; len(got) != 2 || got[0] != "Taro@Example.co.jp" {
		t.Errorf("emails = %v, want both, as written (normalising is identity resolution's job)", got)
	}
	if _, ok := r.Identifiers["Phone"]; ok {
		t.Error("an empty phone became an identifier")
	}
	want := map[string]any{
		"name":      "山田 太郎",
		"spend":     12345.0,
		"vip":       true,
		"birthday":  time.Date(1990, 4, 1, 0, 0, 0, 0, time.UTC),
		"joined_at": time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC),
	}
	for k, v := range want {
		if got := r.Attributes[k]; got != v {
			t.Errorf("attribute %s = %#v, want %#v", k, got, v)
		}
	}
	if _, ok := r.Attributes["memo"]; ok {
		t.Error("a blank value became an attribute")
	}
}

func TestMapRecordErrors(t *testing.T) {
	m := Mapping{RecordKey: "id", Attributes: []AttributeColumn{
		{Name: "spend", Column: "spend", Type: TypeNumber},
		{Name: "since", Column: "since", Type: TypeDate, Layout: "2006-01-02"},
		{Name: "vip", Column: "vip", Type: TypeBoolean},
	}}
	tests := []struct {
		fields map[string]any
		want   string
	}{
		{map[string]any{"id": ""}, `record key column "id" is empty`},
		{map[string]any{"id": "1", "spend": "12円"}, `column "spend": "12円" is not a number`},
		{map[string]any{"id": "1", "since": "31/01/2026"}, `column "since": "31/01/2026" does not match the layout 2006-01-02`},
		{map[string]any{"id": "1", "vip": "maybe"}, `column "vip": maybe is not a boolean`},
	}
	for _, tt := range tests {
		_, err := m.MapRecord(&Row{Fields: tt.fields})
		var mapErr *MappingError
		if !errors.As(err, &mapErr) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("MapRecord(%v) = %v, want a MappingError containing %q", tt.fields, err, tt.want)
		}
	}
}

func TestMapEvent(t *testing.T) {
	m := Mapping{Event: &EventColumns{
		TypeColumn: "event",
		Timestamp:  AttributeColumn{Column: "at", Type: TypeTimestamp},
		Identifier: IdentifierColumn{Column: "email", Type: "Email"},
		Properties: []AttributeColumn{{Name: "amount", Column: "amount", Type: TypeNumber}},
	}}
	received := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	fields := map[string]any{"event": "purchase", "at": "2026-11-01T10:00:00+09:00", "email": "a@example.jp", "amount": 3980.0}
	e, err := m.MapEvent(&Row{Fields: fields}, received)
	if err != nil {
		t.Fatal(err)
	}
	if e.Type != "purchase" || !e.OccurredAt.Equal(time.Date(2026, 11, 1, 1, 0, 0, 0, time.UTC)) || e.Properties["amount"] != 3980.0 {
		t.Errorf("event = %+v", e)
	}
	again, err := m.MapEvent(&Row{Fields: fields}, received.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if e.ID == "" || e.ID != again.ID {
		t.Errorf("content IDs %q and %q: the same event read twice must get the same ID", e.ID, again.ID)
	}
	fields["amount"] = 3981.0
	changed, err := m.MapEvent(&Row{Fields: fields}, received)
	if err != nil {
		t.Fatal(err)
	}
	if changed.ID == e.ID {
		t.Error("two different events got the same content ID")
	}

	delete(fields, "email")
	if _, err := m.MapEvent(&Row{Fields: fields}, received); err == nil || !strings.Contains(err.Error(), "cannot be linked to a customer") {
		t.Errorf("an event without identifier: %v", err)
	}
}
