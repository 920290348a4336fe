package e2e

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
)

// TestIdentityResolutionPublishesProfilesThroughJobs runs two DataSources and a resolution over
// them through real Jobs, then adds a record that bridges two customers and sees the resolution
// run again and merge them.
func TestIdentityResolutionPublishesProfilesThroughJobs(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	write := fileWriter(t)
	crmPath := write("crm.csv", "id,email,phone,name,spend\n1,taro@example.jp,03-1111-1111,山田太郎,100\n2,hanako@example.jp,090-2222-2222,佐藤花子,200\n")
	ecPath := write("ec.csv", "id,email,phone,name,spend\na,TARO@example.jp,,山田 太郎,10\nb,jiro@example.jp,,鈴木次郎,30\n")

	for name, path := range map[string]string{"crm": crmPath, "ec": ecPath} {
		spec := contactsSpec()
		spec.Source.File = &cdpv1alpha1.FileLocation{Path: path}
		spec.Identifiers = append(spec.Identifiers, cdpv1alpha1.IdentifierMapping{Column: "phone", Type: cdpv1alpha1.IdentifierPhone})
		createObject(t, &cdpv1alpha1.DataSource{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec})
	}
	idr := &cdpv1alpha1.IdentityResolution{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "customers"},
		Spec: cdpv1alpha1.IdentityResolutionSpec{
			Sources: []cdpv1alpha1.ResolutionSource{{Name: "crm", Priority: 10}, {Name: "ec"}},
			Deterministic: []cdpv1alpha1.DeterministicRule{
				{Name: "email", Identifiers: []cdpv1alpha1.IdentifierType{cdpv1alpha1.IdentifierEmail}, MaxRecordsPerValue: 20},
				{Name: "phone", Identifiers: []cdpv1alpha1.IdentifierType{cdpv1alpha1.IdentifierPhone}, MaxRecordsPerValue: 20},
			},
			ProfileIDPrefix: "cus_",
		},
	}
	createObject(t, idr)

	waitResolved := func(check func(g Gomega, idr *cdpv1alpha1.IdentityResolution)) {
		t.Helper()
		NewWithT(t).Eventually(func(g Gomega) {
			g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(idr), idr)).To(Succeed())
			g.Expect(idr.Status.LastRun).NotTo(BeNil(), "no resolution run finished yet")
			check(g, idr)
		}).WithTimeout(2 * jobTimeout).WithPolling(pollInterval).Should(Succeed())
	}
	// Four records, three customers: Taro's two records share an email once normalised.
	waitResolved(func(g Gomega, idr *cdpv1alpha1.IdentityResolution) {
		g.Expect(idr.Status.PublishedGeneration).To(Equal(int64(1)))
		g.Expect(idr.Status.Records).To(Equal(int64(4)))
		g.Expect(idr.Status.Profiles).To(Equal(int64(3)))
		g.Expect(idr.Status.LastRun.NewProfiles).To(Equal(int64(3)))
		g.Expect(idr.Status.LastRun.CompletionTime).NotTo(BeNil())
	})

	// A new order with Jiro's email and Hanako's phone number bridges them: the next sync of ec
	// starts a new resolution, which merges their profiles.
	write("ec.csv", "id,email,phone,name,spend\na,TARO@example.jp,,山田 太郎,10\nb,jiro@example.jp,,鈴木次郎,30\nc,jiro@example.jp,09022222222,鈴木次郎,40\n")
	ec := &cdpv1alpha1.DataSource{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ec"}}
	requestSync(t, ec, "bridge")
	waitResolved(func(g Gomega, idr *cdpv1alpha1.IdentityResolution) {
		g.Expect(idr.Status.PublishedGeneration).To(Equal(int64(2)))
		g.Expect(idr.Status.Records).To(Equal(int64(5)))
		g.Expect(idr.Status.Profiles).To(Equal(int64(2)))
		g.Expect(idr.Status.LastRun.Merges).To(Equal(int64(1)))
	})
}
