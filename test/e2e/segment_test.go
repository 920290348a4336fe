package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
)

// TestSegmentsFollowProfilesAndEvents runs customers and their orders through sync and
// resolution Jobs, then three segments: one on an attribute, one on behaviour and one nested on
// the other two. New orders move a customer from the nested segment to the behavioural one.
func TestSegmentsFollowProfilesAndEvents(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	write := fileWriter(t)
	crmPath := write("crm.csv", "id,email,name,prefecture\n"+
		"1,taro@example.jp,山田太郎,東京都\n"+
		"2,hanako@example.jp,佐藤花子,大阪府\n"+
		"3,jiro@example.jp,鈴木次郎,東京都\n"+
		"4,saburo@example.jp,高橋三郎,神奈川県\n")
	now := time.Now()
	daysAgo := func(d int) string { return now.Add(-time.Duration(d) * 24 * time.Hour).UTC().Format(time.RFC3339) }
	orders := []string{
		// Emails as the shop wrote them: the resolution's normalisation links them to the CRM's.
		"o1," + daysAgo(40) + ",TARO@example.jp,3000",
		"o2," + daysAgo(60) + ",taro@example.jp,5000",
		"o3," + daysAgo(5) + ",hanako@example.jp,1200",
		"o4," + daysAgo(10) + ",jiro@EXAMPLE.jp,800",
		"o5," + daysAgo(20) + ",jiro@example.jp,900",
		"o6," + daysAgo(200) + ",saburo@example.jp,4000", // outside the 90-day window
	}
	ordersCSV := func() string { return "order_id,ordered_at,email,amount\n" + strings.Join(orders, "\n") + "\n" }
	ordersPath := write("orders.csv", ordersCSV())

	createObject(t, &cdpv1alpha1.DataSource{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "crm"},
		Spec: cdpv1alpha1.DataSourceSpec{
			Type:        cdpv1alpha1.DataSourceRecords,
			Source:      cdpv1alpha1.SourceLocation{File: &cdpv1alpha1.FileLocation{Path: crmPath}},
			Format:      &cdpv1alpha1.FileFormat{Type: cdpv1alpha1.FormatCSV},
			RecordKey:   &cdpv1alpha1.ColumnRef{Column: "id"},
			Identifiers: []cdpv1alpha1.IdentifierMapping{{Column: "email", Type: cdpv1alpha1.IdentifierEmail}},
			Attributes:  []cdpv1alpha1.AttributeMapping{{Name: "name"}, {Name: "prefecture"}},
		},
	})
	ordersSource := &cdpv1alpha1.DataSource{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "orders"},
		Spec: cdpv1alpha1.DataSourceSpec{
			Type:   cdpv1alpha1.DataSourceEvents,
			Source: cdpv1alpha1.SourceLocation{File: &cdpv1alpha1.FileLocation{Path: ordersPath}},
			Format: &cdpv1alpha1.FileFormat{Type: cdpv1alpha1.FormatCSV},
			Event: &cdpv1alpha1.EventMapping{
				Type:       "purchase",
				Timestamp:  cdpv1alpha1.TimestampColumn{Column: "ordered_at"},
				IDColumn:   "order_id",
				Identifier: cdpv1alpha1.IdentifierMapping{Column: "email", Type: cdpv1alpha1.IdentifierEmail},
				Properties: []cdpv1alpha1.AttributeMapping{{Name: "amount", Type: cdpv1alpha1.AttributeNumber}},
			},
		},
	}
	createObject(t, ordersSource)
	createObject(t, &cdpv1alpha1.IdentityResolution{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "customers"},
		Spec: cdpv1alpha1.IdentityResolutionSpec{
			Sources: []cdpv1alpha1.ResolutionSource{{Name: "crm"}},
			Deterministic: []cdpv1alpha1.DeterministicRule{
				{Name: "email", Identifiers: []cdpv1alpha1.IdentifierType{cdpv1alpha1.IdentifierEmail}},
			},
		},
	})

	// The segments start once the orders are in, so that their first evaluation is the final one.
	waitSynced(t, ordersSource, func(g Gomega, ds *cdpv1alpha1.DataSource) {
		g.Expect(ds.Status.LastSync.RowsLoaded).To(Equal(int64(len(orders))))
	})

	segment := func(name string, rule cdpv1alpha1.SegmentRule) *cdpv1alpha1.Segment {
		return &cdpv1alpha1.Segment{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec:       cdpv1alpha1.SegmentSpec{ResolutionRef: cdpv1alpha1.LocalObjectReference{Name: "customers"}, Rule: rule},
		}
	}
	kanto := segment("kanto", cdpv1alpha1.SegmentRule{Condition: cdpv1alpha1.Condition{
		Attribute: &cdpv1alpha1.AttributeCondition{Path: "prefecture", Operator: cdpv1alpha1.OpIn, Values: []string{"東京都", "神奈川県"}},
	}})
	repeatBuyers := segment("repeat-buyers", cdpv1alpha1.SegmentRule{Condition: cdpv1alpha1.Condition{
		Event: &cdpv1alpha1.EventCondition{
			Type: "purchase", Within: ptr.To(cdpv1alpha1.Duration("90d")),
			Count: &cdpv1alpha1.CountComparison{Operator: "GreaterThanOrEqual", Value: 2},
		},
	}})
	kantoOthers := segment("kanto-not-repeat", cdpv1alpha1.SegmentRule{All: []cdpv1alpha1.NestedRule{
		{Condition: cdpv1alpha1.Condition{Segment: &cdpv1alpha1.SegmentMembershipCondition{Name: "kanto"}}},
		{Not: &cdpv1alpha1.LeafRule{Condition: cdpv1alpha1.Condition{Segment: &cdpv1alpha1.SegmentMembershipCondition{Name: "repeat-buyers"}}}},
	}})
	createObject(t, kanto)
	createObject(t, repeatBuyers)
	createObject(t, kantoOthers)

	// Taro, Jiro and Saburo live in Kanto; Taro and Jiro bought twice in 90 days; so Saburo is
	// the one Kanto customer who is not a repeat buyer.
	expectSegment(t, kanto, 3, 0)
	expectSegment(t, repeatBuyers, 2, 0)
	expectSegment(t, kantoOthers, 1, 0)

	// Saburo orders twice more: the next sync of the orders moves him into repeat-buyers, and
	// so out of kanto-not-repeat, with no new resolution.
	orders = append(orders, "o7,"+daysAgo(3)+",saburo@example.jp,2500", "o8,"+daysAgo(1)+",Saburo@Example.jp,700")
	write("orders.csv", ordersCSV())
	requestSync(t, ordersSource, "two-more-orders")
	expectSegment(t, repeatBuyers, 3, 0)
	expectSegment(t, kantoOthers, 0, 1)
	expectSegment(t, kanto, 3, 0)
}

// expectSegment waits until the segment's latest successful evaluation found size members,
// and exited of them left in it.
func expectSegment(t *testing.T, seg *cdpv1alpha1.Segment, size, exited int64) {
	t.Helper()
	NewWithT(t).Eventually(func(g Gomega) {
		g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(seg), seg)).To(Succeed())
		c := meta.FindStatusCondition(seg.Status.Conditions, cdpv1alpha1.ConditionEvaluated)
		g.Expect(c).NotTo(BeNil(), "no Evaluated condition")
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue), "%s: %s", c.Reason, c.Message)
		g.Expect(seg.Status.Size).To(Equal(size), fmt.Sprintf("size of %s", seg.Name))
		g.Expect(seg.Status.Exited).To(Equal(exited), fmt.Sprintf("exited from %s", seg.Name))
		g.Expect(seg.Status.EvaluatedResolutionGeneration).To(Equal(int64(1)))
		g.Expect(seg.Status.LastEvaluationDuration).NotTo(BeNil())
	}).WithTimeout(3 * jobTimeout).WithPolling(pollInterval).Should(Succeed())
}
