package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	. "github.com/onsi/gomega"
	"golang.org/x/text/encoding/japanese"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
)

// fileServer serves one CSV file whose content the test changes; its ETag follows the content.
type fileServer struct {
	mu      sync.Mutex
	content string
	version int
}

func (f *fileServer) set(content string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.content, f.version = content, f.version+1
}

func (f *fileServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	content, etag := f.content, fmt.Sprintf(`"v%d"`, f.version)
	f.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer e2e-token" {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("ETag", etag)
	_, _ = w.Write([]byte(content))
}

func contactsSpec() cdpv1alpha1.DataSourceSpec {
	return cdpv1alpha1.DataSourceSpec{
		Type:      cdpv1alpha1.DataSourceRecords,
		Format:    &cdpv1alpha1.FileFormat{Type: cdpv1alpha1.FormatCSV},
		RecordKey: &cdpv1alpha1.ColumnRef{Column: "id"},
		Identifiers: []cdpv1alpha1.IdentifierMapping{
			{Column: "email", Type: cdpv1alpha1.IdentifierEmail},
		},
		Attributes: []cdpv1alpha1.AttributeMapping{
			{Name: "name"},
			{Name: "spend", Type: cdpv1alpha1.AttributeNumber},
		},
		MaxErrorRatio: ptr.To(0.5),
	}
}

// waitSynced waits until the DataSource's latest sync is the one check accepts.
func waitSynced(t *testing.T, ds *cdpv1alpha1.DataSource, check func(g Gomega, ds *cdpv1alpha1.DataSource)) {
	t.Helper()
	NewWithT(t).Eventually(func(g Gomega) {
		g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(ds), ds)).To(Succeed())
		g.Expect(ds.Status.LastSync).NotTo(BeNil(), "no sync finished yet")
		check(g, ds)
	}).WithTimeout(jobTimeout).WithPolling(pollInterval).Should(Succeed())
}

func syncedCondition(ds *cdpv1alpha1.DataSource) metav1.Condition {
	for _, c := range ds.Status.Conditions {
		if c.Type == cdpv1alpha1.ConditionSynced {
			return c
		}
	}
	return metav1.Condition{}
}

func requestSync(t *testing.T, ds *cdpv1alpha1.DataSource, value string) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(ds), ds); err != nil {
			return err
		}
		if ds.Annotations == nil {
			ds.Annotations = map[string]string{}
		}
		ds.Annotations[cdpv1alpha1.SyncRequestAnnotation] = value
		return k8s.Update(context.Background(), ds)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestHTTPDataSourceSyncsThroughJobs(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	files := &fileServer{}
	files.set("id,email,name,spend\n1,a@example.jp,山田,100\n2,b@example.jp,佐藤,abc\n3,c@example.jp,鈴木,300\n4,d@example.jp,高橋,400\n")
	server := httptest.NewServer(files)
	defer server.Close()

	createObject(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "crm-token"},
		Data: map[string][]byte{"authorization": []byte("Bearer e2e-token")}})
	spec := contactsSpec()
	spec.Source.HTTP = &cdpv1alpha1.HTTPLocation{URL: server.URL + "/crm.csv",
		AuthorizationSecretRef: &cdpv1alpha1.SecretKeySelector{Name: "crm-token", Key: "authorization"}}
	ds := &cdpv1alpha1.DataSource{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "crm"}, Spec: spec}
	createObject(t, ds)

	waitSynced(t, ds, func(g Gomega, ds *cdpv1alpha1.DataSource) {
		g.Expect(syncedCondition(ds).Reason).To(Equal(cdpv1alpha1.ReasonSyncSucceeded), syncedCondition(ds).Message)
		g.Expect(ds.Status.Records).To(Equal(int64(3)))
		g.Expect(ds.Status.LastSync.RowsRead).To(Equal(int64(4)))
		g.Expect(ds.Status.LastSync.RowsQuarantined).To(Equal(int64(1)))
		g.Expect(ds.Status.LastSync.FirstErrors).To(HaveLen(1))
		g.Expect(ds.Status.LastSync.FirstErrors[0].Row).To(Equal(int64(3)))
	})
	first := ds.Status.LastSync.JobName

	// The file has not changed: the second sync is skipped.
	requestSync(t, ds, "again")
	waitSynced(t, ds, func(g Gomega, ds *cdpv1alpha1.DataSource) {
		g.Expect(ds.Status.LastSync.JobName).NotTo(Equal(first))
		g.Expect(syncedCondition(ds).Reason).To(Equal(cdpv1alpha1.ReasonNotModified), syncedCondition(ds).Message)
		g.Expect(ds.Status.Records).To(Equal(int64(3)))
	})

	// A record removed from the file is marked deleted.
	files.set("id,email,name,spend\n1,a@example.jp,山田,100\n3,c@example.jp,鈴木,300\n")
	requestSync(t, ds, "changed")
	waitSynced(t, ds, func(g Gomega, ds *cdpv1alpha1.DataSource) {
		g.Expect(syncedCondition(ds).Reason).To(Equal(cdpv1alpha1.ReasonSyncSucceeded), syncedCondition(ds).Message)
		g.Expect(ds.Status.LastSync.RecordsDeleted).To(Equal(int64(1)))
		g.Expect(ds.Status.Records).To(Equal(int64(2)))
	})
	if logs := workerLogs(ns); strings.Contains(logs, "e2e-token") {
		t.Error("a worker logged the Secret's value")
	}
}

func TestS3DataSourceSyncsThroughAJob(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	backend := s3mem.New()
	server := httptest.NewServer(gofakes3.New(backend).Server())
	defer server.Close()
	if err := backend.CreateBucket("exports"); err != nil {
		t.Fatal(err)
	}
	content := []byte("id,email,name,spend\n10,x@example.jp,伊藤,1000\n11,y@example.jp,渡辺,2000\n")
	if _, err := backend.PutObject("exports", "ma/leads.csv", map[string]string{"Last-Modified": "Mon, 23 Nov 2026 09:00:00 GMT"},
		bytes.NewReader(content), int64(len(content)), nil); err != nil {
		t.Fatal(err)
	}
	createObject(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ma-s3"},
		Data: map[string][]byte{"accessKeyID": []byte("AKIAE2E"), "secretAccessKey": []byte("e2e-secret")}})
	spec := contactsSpec()
	spec.Source.S3 = &cdpv1alpha1.S3Location{Endpoint: server.URL, Region: "ap-northeast-1", Bucket: "exports", Key: "ma/leads.csv",
		CredentialsSecretRef: &cdpv1alpha1.LocalObjectReference{Name: "ma-s3"}}
	ds := &cdpv1alpha1.DataSource{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ma"}, Spec: spec}
	createObject(t, ds)
	waitSynced(t, ds, func(g Gomega, ds *cdpv1alpha1.DataSource) {
		g.Expect(syncedCondition(ds).Reason).To(Equal(cdpv1alpha1.ReasonSyncSucceeded), syncedCondition(ds).Message)
		g.Expect(ds.Status.Records).To(Equal(int64(2)))
	})
}

// workerLogs returns what the worker processes of a namespace wrote.
func workerLogs(ns string) string {
	var b strings.Builder
	for _, r := range recordsOf(ns) {
		logs, _ := local.Kubelet.Logs(ns, r.Pod)
		b.WriteString(logs)
	}
	return b.String()
}

func TestConfigMapDataSourceSyncsShiftJISThroughAJob(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	// 名刺 exported from Excel: Shift_JIS bytes, so they live in binaryData.
	sjis, err := japanese.ShiftJIS.NewEncoder().String("card_id,会社名,メール\r\nM1,㈱絆ストア,taro@example.co.jp\r\nM2,合同会社さくら,hanako@example.jp\r\n")
	if err != nil {
		t.Fatal(err)
	}
	createObject(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "cards"},
		BinaryData: map[string][]byte{"meishi.csv": []byte(sjis)}})
	ds := &cdpv1alpha1.DataSource{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "business-cards"}, Spec: cdpv1alpha1.DataSourceSpec{
		Type:      cdpv1alpha1.DataSourceRecords,
		Source:    cdpv1alpha1.SourceLocation{ConfigMap: &cdpv1alpha1.ConfigMapKeySelector{Name: "cards", Key: "meishi.csv"}},
		Format:    &cdpv1alpha1.FileFormat{Type: cdpv1alpha1.FormatCSV, CSV: &cdpv1alpha1.CSVOptions{Encoding: cdpv1alpha1.EncodingShiftJIS}},
		RecordKey: &cdpv1alpha1.ColumnRef{Column: "card_id"},
		Identifiers: []cdpv1alpha1.IdentifierMapping{
			{Column: "会社名", Type: cdpv1alpha1.IdentifierCompanyName},
			{Column: "メール", Type: cdpv1alpha1.IdentifierEmail},
		},
	}}
	createObject(t, ds)
	waitSynced(t, ds, func(g Gomega, ds *cdpv1alpha1.DataSource) {
		g.Expect(syncedCondition(ds).Reason).To(Equal(cdpv1alpha1.ReasonSyncSucceeded), syncedCondition(ds).Message)
		g.Expect(ds.Status.Records).To(Equal(int64(2)))
	})
}
