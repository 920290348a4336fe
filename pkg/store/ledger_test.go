package store

import (
	"strings"
	"testing"
)

func TestEventIdentifier(t *testing.T) {
	tests := []struct {
		channelType, address string
		idType, value        string
	}{
		{"SMTP", "taro@example.co.jp", "Email", "taro@example.co.jp"},
		{"SMS", "+819012345678", "Phone", "+819012345678"},
		{"LINE", "U4af4980629", "LineUserID", "U4af4980629"},
		{"Push", "fcm-token", "DeviceToken", "fcm-token"},
		{"Webhook", "", "ProfileID", "p1"},
		{"Webhook", "https://hooks.example.com", "ProfileID", "p1"},
		{"SMTP", "", "ProfileID", "p1"},
		{"", "", "ProfileID", "p1"},
	}
	for _, tc := range tests {
		idType, value := eventIdentifier(Delivery{ProfileID: "p1", ChannelType: tc.channelType, Address: tc.address})
		if idType != tc.idType || value != tc.value {
			t.Errorf("eventIdentifier(%s, %q) = %s:%s, want %s:%s", tc.channelType, tc.address, idType, value, tc.idType, tc.value)
		}
	}
}

func TestDeliveryEventID(t *testing.T) {
	row := func(campaign, run, step, profile string) Delivery {
		return Delivery{Campaign: campaign, Run: run, Step: step, ProfileID: profile}
	}
	tests := []struct {
		name string
		row  Delivery
		want string
	}{
		{"names", row("welcome", "welcome-t1740823200", "day-1", "cust-000042"), "welcome/welcome-t1740823200/day-1/cust-000042"},
		// Escaping keeps the parts apart: without it, these two would share "a/b/c/d/e".
		{"a slash in the profile", row("a", "b", "c", "d/e"), "a/b/c/d%2Fe"},
		{"a slash in the step", row("a", "b", "c/d", "e"), "a/b/c%2Fd/e"},
		{"characters outside ASCII", row("a", "b", "c", "山田"), "a/b/c/%E5%B1%B1%E7%94%B0"},
	}
	for _, tc := range tests {
		if got := deliveryEventID(tc.row); got != tc.want {
			t.Errorf("%s: deliveryEventID = %q, want %q", tc.name, got, tc.want)
		}
	}
	long := deliveryEventID(row("a", "b", "c", strings.Repeat("p", maxKeyBytes)))
	if !strings.HasPrefix(long, "sha256:") || len(long) > maxKeyBytes {
		t.Errorf("deliveryEventID of a long profile ID = %q, want a hash", long)
	}
	if again := deliveryEventID(row("a", "b", "c", strings.Repeat("p", maxKeyBytes))); again != long {
		t.Errorf("deliveryEventID is not stable: %q, then %q", long, again)
	}
}
