package e2e

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/delivery/template"
	"github.com/kizuna-dev/kizuna/pkg/worker"
	"github.com/kizuna-dev/kizuna/test/mailsink"
	"github.com/kizuna-dev/kizuna/test/pgtest"
)

// newMember is a customer the test's data puts in the samples' segment new-customers, with the
// channel type each step of the welcome series reaches them through ("" when none does, and the
// step is suppressed).
type newMember struct {
	lastName, firstName, email string
	steps                      [3]cdpv1alpha1.ChannelType
}

// TestSamplesWelcomeSeriesDeliversThroughJobs applies config/samples as they are, but for what
// must point at this machine and the timings a test cannot wait for, with the shop's systems
// (the CRM's export, the marketing tool's bucket, the EC database) holding a few customers. The
// sources sync, the resolution publishes profiles and new-customers is evaluated; the welcome
// series then runs on segment entry through Indexed Jobs, its delayed steps in a further Job of
// the same run, and delivers to a real SMTP server (Mailpit, with the sample's credentials) and
// to a receiver of the CRM webhook that verifies the signature and the headers Secret. What
// arrives is exactly what the campaign's status counts.
func TestSamplesWelcomeSeriesDeliversThroughJobs(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	ctx := context.Background()
	samples := typedSamples(t)
	secret := func(name string) map[string]string { return findSample[*corev1.Secret](t, samples, name).StringData }
	now := time.Now()

	// The shop's systems, on this machine.
	crmURL := serveCRMExport(t, secret("crm-export-token")["authorization"], crmContacts(now))
	leads := findSample[*cdpv1alpha1.DataSource](t, samples, "ma-leads").Spec.Source.S3
	leadsEndpoint := serveS3Object(t, leads.Bucket, leads.Key, maLeads(now))
	ordersDSN := startOrdersDatabase(t, now)
	smtpAuth := secret("smtp-auth")
	sink, err := mailsink.Start(mailsink.Options{Users: map[string]string{smtpAuth["username"]: smtpAuth["password"]}, InsecureAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sink.Stop() })
	crm := &crmReceiver{key: []byte(secret("crm-webhook")["signingKey"]), headers: secret("crm-webhook-headers")}
	hook := httptest.NewServer(crm)
	t.Cleanup(hook.Close)

	// What must point at this machine instead of 絆ストア's hosts, keeping the samples' paths.
	crmSource := findSample[*cdpv1alpha1.DataSource](t, samples, "crm-contacts").Spec.Source.HTTP
	crmSource.URL = onServer(t, crmSource.URL, crmURL)
	leads.Endpoint = leadsEndpoint
	findSample[*corev1.Secret](t, samples, "ec-orders-db").StringData["url"] = ordersDSN
	smtp := findSample[*cdpv1alpha1.Channel](t, samples, "email").Spec.SMTP
	smtp.Host, smtp.Port = sink.SMTPHost(), int32(sink.SMTPPort())
	// The workers cannot trust Mailpit's certificate: plain SMTP on loopback, still with the
	// sample's credentials.
	smtp.TLS = cdpv1alpha1.TLSModeNone
	webhook := findSample[*cdpv1alpha1.Channel](t, samples, "crm-webhook").Spec.Webhook
	webhook.URL = onServer(t, webhook.URL, hook.URL)

	// Timings the test cannot wait for. Quiet hours (21:00 to 09:00 in Tokyo) would defer the
	// messages to the morning whenever the test runs in the evening.
	findSample[*cdpv1alpha1.DeliveryPolicy](t, samples, "default").Spec.QuietHours = nil
	welcome := findSample[*cdpv1alpha1.Campaign](t, samples, "welcome-series")
	expect := NewWithT(t)
	expect.Expect(welcome.Spec.Steps).To(HaveLen(3))
	expect.Expect(welcome.Spec.Trigger.SegmentEntry).NotTo(BeNil())
	// New members are looked for every minute, the shortest checkEvery admission accepts, instead
	// of every 15: the first run is a minute after the campaign is created.
	welcome.Spec.Trigger.SegmentEntry.CheckEvery = "1m"
	// The coupon comes a minute after the welcome instead of three days, the shortest delay there
	// is, so that a further Job continues the run when it comes due; the guide comes with it
	// instead of a week later: a second delay would test nothing more and cost another minute.
	welcome.Spec.Steps[1].Delay = ptr.To(cdpv1alpha1.Duration("1m"))
	welcome.Spec.Steps[2].Delay = nil

	// The other campaigns run as the samples say: the data puts nobody in their audiences at
	// the times they could run (no lapsed customer, no birthday this month, and the carts of
	// cart-reminder come through a collector, which receives nothing here).
	createSamples(t, ns, samples)

	// Registered in the last 14 days, or first bought in the last 14 days: see crmContacts and
	// startOrdersDatabase for who the others are and why they are not new.
	members := []newMember{
		{"山田", "花子", "hanako.yamada@example.jp", [3]cdpv1alpha1.ChannelType{cdpv1alpha1.ChannelSMTP, cdpv1alpha1.ChannelSMTP, cdpv1alpha1.ChannelSMTP}},
		// Refused marketing email: the welcome goes to the CRM, the later steps to nobody.
		{"佐藤", "健", "ken.sato@example.jp", [3]cdpv1alpha1.ChannelType{cdpv1alpha1.ChannelWebhook, "", ""}},
		// No email address, likewise.
		{"鈴木", "美咲", "", [3]cdpv1alpha1.ChannelType{cdpv1alpha1.ChannelWebhook, "", ""}},
		// A customer for two years whose first order came three days ago.
		{"田中", "陽子", "yoko.tanaka@example.jp", [3]cdpv1alpha1.ChannelType{cdpv1alpha1.ChannelSMTP, cdpv1alpha1.ChannelSMTP, cdpv1alpha1.ChannelSMTP}},
	}
	newCustomers := &cdpv1alpha1.Segment{}
	newCustomers.Namespace, newCustomers.Name = ns, "new-customers"
	expect.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(newCustomers), newCustomers)).To(Succeed())
		g.Expect(newCustomers.Status.Size).To(Equal(int64(len(members))), "members of new-customers; conditions %+v", newCustomers.Status.Conditions)
	}).WithTimeout(2 * jobTimeout).WithPolling(pollInterval).Should(Succeed())

	var want cdpv1alpha1.DeliveryCounts
	for _, m := range members {
		for _, channel := range m.steps {
			want.Targeted++
			if channel == "" {
				want.Suppressed++
			} else {
				want.Sent++
			}
		}
	}
	// The first run is due a minute after the campaign's creation, its delayed steps a minute
	// later. A check every minute after that finds nobody new and starts no Job.
	expect.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(welcome), welcome)).To(Succeed())
		g.Expect(crm.refusals()).To(BeEmpty(), "the CRM webhook refused requests")
		g.Expect(welcome.Status.Totals).To(Equal(want), "conditions %+v", welcome.Status.Conditions)
	}).WithTimeout(2*time.Minute + 2*jobTimeout).WithPolling(pollInterval).Should(Succeed())
	// No more runs while the messages and the Jobs are read below.
	patch := client.MergeFrom(welcome.DeepCopy())
	welcome.Spec.Suspend = true
	expect.Expect(k8s.Patch(ctx, welcome, patch)).To(Succeed())

	// The messages, by recipient and step, with the subjects the sample's templates give them.
	var wantEmails, wantPosts []string
	for _, m := range members {
		for i, channel := range m.steps {
			step := welcome.Spec.Steps[i]
			switch channel {
			case cdpv1alpha1.ChannelSMTP:
				wantEmails = append(wantEmails, delivered(m.email, step.Name, subjectFor(t, step, "email", m)))
			case cdpv1alpha1.ChannelWebhook:
				wantPosts = append(wantPosts, delivered(m.lastName+" "+m.firstName, step.Name, m.email))
			}
		}
	}
	// Each message names its run: the first, unless a slow machine had a member enter the
	// segment only after it.
	delivering := map[string]bool{}
	expect.Eventually(func(g Gomega) {
		summaries, err := sink.Messages(ctx)
		g.Expect(err).NotTo(HaveOccurred())
		var emails []string
		clear(delivering)
		for _, s := range summaries {
			m, err := sink.Message(ctx, s.ID)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(m.To).To(HaveLen(1))
			to := m.To[0].Address
			g.Expect(m.Headers["X-Kizuna-Campaign"]).To(ConsistOf(ns+"/welcome-series"), "message to %s", to)
			g.Expect(m.Headers["X-Kizuna-Run"]).To(HaveLen(1), "message to %s", to)
			g.Expect(m.Headers["X-Kizuna-Step"]).To(HaveLen(1), "message to %s", to)
			emails = append(emails, delivered(to, m.Headers["X-Kizuna-Step"][0], m.Subject))
			delivering[m.Headers["X-Kizuna-Run"][0]] = true
		}
		g.Expect(emails).To(ConsistOf(wantEmails), "the messages at the SMTP server")
	}).WithTimeout(jobTimeout).WithPolling(pollInterval).Should(Succeed())

	var jobs batchv1.JobList
	expect.Expect(k8s.List(ctx, &jobs, client.InNamespace(ns), client.MatchingLabels{"cdp.kizuna.dev/campaign": "welcome-series"})).To(Succeed())
	var posts []string
	for _, p := range crm.accepted() {
		expect.Expect(p.Campaign).To(Equal("welcome-series"))
		// The key names the message's run, profile and step: the payload's step is the one sent.
		run := slices.IndexFunc(jobs.Items, func(j batchv1.Job) bool {
			return p.idempotencyKey == worker.MessageID(ns, p.Campaign, j.Labels["cdp.kizuna.dev/run"], p.ProfileID, p.Step)
		})
		expect.Expect(run).NotTo(Equal(-1), "the Idempotency-Key of the post for %s is the ID of no message of step %s", p.Name, p.Step)
		delivering[jobs.Items[run].Labels["cdp.kizuna.dev/run"]] = true
		posts = append(posts, delivered(p.Name, p.Step, p.Email))
	}
	expect.Expect(posts).To(ConsistOf(wantPosts), "the posts the CRM received: name, step, email")

	// Each run went through Indexed Jobs: the first at the run's time, the second when the
	// delayed steps came due, each a Pod that delivered and exited 0.
	for run := range delivering {
		expect.Eventually(func(g Gomega) {
			var jobs batchv1.JobList
			g.Expect(k8s.List(ctx, &jobs, client.InNamespace(ns), client.MatchingLabels{"cdp.kizuna.dev/run": run})).To(Succeed())
			var names []string
			for _, job := range jobs.Items {
				names = append(names, job.Name)
				g.Expect(job.Spec.CompletionMode).To(Equal(ptr.To(batchv1.IndexedCompletion)), "Job %s", job.Name)
				g.Expect(job.Status.Succeeded).To(Equal(*job.Spec.Completions), "Job %s", job.Name)
				var indexes []string
				for _, r := range recordsOf(ns) {
					if r.Labels[batchv1.JobNameLabel] == job.Name {
						g.Expect(r.ExitCode).To(Equal(0), "Pod %s of Job %s", r.Pod, job.Name)
						indexes = append(indexes, r.Labels[batchv1.JobCompletionIndexAnnotation])
					}
				}
				g.Expect(indexes).To(ConsistOf("0"), "the Pods of Job %s, by completion index", job.Name)
			}
			g.Expect(names).To(HaveLen(2), "the Jobs of run %s: the first and the one that continued it", run)
		}).WithTimeout(jobTimeout).WithPolling(pollInterval).Should(Succeed())
	}
}

// delivered describes a message for comparisons: to whom, of which step, and what else tells
// it apart (an email's subject, a post's email field).
func delivered(to, step, what string) string {
	return fmt.Sprintf("%s | %s | %s", to, step, what)
}

// subjectFor renders the subject of a step's message on a channel for a member, as the sample
// writes it.
func subjectFor(t *testing.T, step cdpv1alpha1.CampaignStep, channel string, m newMember) string {
	t.Helper()
	i := slices.IndexFunc(step.Messages, func(s cdpv1alpha1.StepMessage) bool { return s.ChannelRef.Name == channel })
	if i < 0 {
		t.Fatalf("step %s of the sample has no message on channel %s", step.Name, channel)
	}
	parsed, err := template.Parse(template.Parts{Subject: step.Messages[i].Template.Subject})
	if err != nil {
		t.Fatal(err)
	}
	rendered, err := parsed.Render(template.Data{Attributes: map[string]any{"last_name": m.lastName, "first_name": m.firstName}})
	if err != nil {
		t.Fatal(err)
	}
	return rendered.Subject
}

// onServer moves a sample's URL to a test server, keeping its path.
func onServer(t *testing.T, sampleURL, serverURL string) string {
	t.Helper()
	u, err := url.Parse(sampleURL)
	if err != nil {
		t.Fatal(err)
	}
	return serverURL + u.RequestURI()
}

// crmContacts is the CRM's contact export, in the columns the sample crm-contacts maps. Dates
// are relative to now, so that who registered in the last 14 days does not depend on the day
// the test runs; birthdays are six months away, so that birthday-this-month, and the birthday
// greeting, hold nobody.
func crmContacts(now time.Time) string {
	tokyo := time.FixedZone("JST", 9*60*60)
	registered := func(days int) string {
		return now.Add(-time.Duration(days) * 24 * time.Hour).In(tokyo).Format("2006-01-02 15:04:05")
	}
	born := func(year int) string {
		return time.Date(year, now.Month()+6, 15, 0, 0, 0, 0, time.UTC).Format("2006-01-02")
	}
	rows := [][]string{
		{"customer_id", "email", "phone", "company_name", "full_name", "postal_code", "member_no", "last_name", "first_name",
			"last_name_kana", "first_name_kana", "prefecture", "city", "customer_rank", "birth_date", "email_opt_in", "sms_opt_in", "registered_at"},
		{"C-1001", "hanako.yamada@example.jp", "090-1234-0001", "", "山田 花子", "150-0001", "M1001", "山田", "花子",
			"ヤマダ", "ハナコ", "東京都", "渋谷区", "regular", born(1990), "true", "false", registered(2)},
		{"C-1002", "ken.sato@example.jp", "080-2345-0002", "", "佐藤 健", "530-0002", "M1002", "佐藤", "健",
			"サトウ", "ケン", "大阪府", "大阪市北区", "regular", born(1985), "false", "false", registered(5)},
		{"C-1003", "", "070-3456-0003", "株式会社みどり企画", "鈴木 美咲", "460-0003", "M1003", "鈴木", "美咲",
			"スズキ", "ミサキ", "愛知県", "名古屋市中区", "regular", born(1992), "", "false", registered(1)},
		// Registered long ago; bought 200 days ago.
		{"C-1004", "makoto.takahashi@example.jp", "090-4567-0004", "", "高橋 誠", "220-0004", "M1004", "高橋", "誠",
			"タカハシ", "マコト", "神奈川県", "横浜市西区", "silver", born(1978), "true", "true", registered(400)},
		// Registered two years ago; bought for the first time three days ago.
		{"C-1005", "yoko.tanaka@example.jp", "090-5678-0005", "", "田中 陽子", "810-0005", "M1005", "田中", "陽子",
			"タナカ", "ヨウコ", "福岡県", "福岡市中央区", "regular", born(1988), "true", "false", registered(730)},
		// Bought three days ago, and before that 100 days ago: not a first purchase.
		{"C-1006", "daisuke.ito@example.jp", "080-6789-0006", "", "伊藤 大輔", "060-0006", "M1006", "伊藤", "大輔",
			"イトウ", "ダイスケ", "北海道", "札幌市中央区", "gold", born(1975), "true", "false", registered(365)},
		// Her only order, two days ago, was cancelled: the sample's query leaves it out.
		{"C-1007", "mai.watanabe@example.jp", "070-7890-0007", "", "渡辺 麻衣", "980-0007", "M1007", "渡辺", "麻衣",
			"ワタナベ", "マイ", "宮城県", "仙台市青葉区", "regular", born(1995), "true", "false", registered(300)},
	}
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.WriteAll(rows)
	return b.String()
}

// maLeads is the marketing tool's export: a lead who is Hanako (the email, spelt otherwise,
// links them) and one who is in no other system and follows the LINE account.
func maLeads(now time.Time) string {
	engaged := now.Add(-24 * time.Hour).UTC().Format(time.RFC3339)
	return `{"lead_id": "L-501", "email": "Hanako.Yamada@Example.jp", "name": "山田 花子", "lead_score": 72, "email_subscribed": true, "last_engaged_at": "` + engaged + `"}
{"lead_id": "L-502", "email": "sho.kobayashi@example.jp", "mobile_phone": "090-8888-7777", "line_user_id": "U4af4980629a1b2c3d4e5f6a7b8c9d0e1", "company": "小林商店", "name": "小林 翔", "lead_score": 35, "job_title": "店長", "industry": "小売", "email_subscribed": false, "last_engaged_at": "` + engaged + `"}
`
}

// serveCRMExport serves the CRM's export to requests with the sample's Authorization header.
func serveCRMExport(t *testing.T, authorization, content string) string {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != authorization {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		_, _ = io.WriteString(w, content)
	}))
	t.Cleanup(server.Close)
	return server.URL
}

// serveS3Object serves one object from an S3 API and returns its endpoint.
func serveS3Object(t *testing.T, bucket, key, content string) string {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	if _, err := backend.PutObject(bucket, key, map[string]string{"Last-Modified": time.Now().UTC().Format(http.TimeFormat)},
		strings.NewReader(content), int64(len(content)), nil); err != nil {
		t.Fatal(err)
	}
	server := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(server.Close)
	return server.URL
}

// startOrdersDatabase starts the EC site's database, with the tables the sample ec-orders
// queries, and returns its connection string.
func startOrdersDatabase(t *testing.T, now time.Time) string {
	t.Helper()
	server, err := pgtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = server.Stop() })
	if err := server.CreateDatabase("ec"); err != nil {
		t.Fatal(err)
	}
	dsn := server.DSN("ec")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }()
	daysAgo := func(d int) time.Time { return now.Add(-time.Duration(d) * 24 * time.Hour) }
	if _, err := conn.Exec(ctx, `
		CREATE TABLE customers (customer_id text PRIMARY KEY, email text NOT NULL);
		CREATE TABLE orders (order_id text PRIMARY KEY, customer_id text NOT NULL REFERENCES customers,
			ordered_at timestamptz NOT NULL, total_amount numeric(12) NOT NULL, item_count integer NOT NULL,
			store_code text NOT NULL, sales_channel text NOT NULL, status text NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	batch := &pgx.Batch{}
	// The shop spells some addresses otherwise than the CRM: the resolution's normalisation
	// links them.
	for _, c := range [][2]string{{"ec-1", "makoto.takahashi@example.jp"}, {"ec-2", "YOKO.TANAKA@example.jp"},
		{"ec-3", "daisuke.ito@example.jp"}, {"ec-4", "mai.watanabe@example.jp"}} {
		batch.Queue(`INSERT INTO customers VALUES ($1, $2)`, c[0], c[1])
	}
	for _, o := range []struct {
		id, customer string
		at           time.Time
		amount       int
		status       string
	}{
		{"O-1", "ec-1", daysAgo(200), 5400, "shipped"},
		{"O-2", "ec-2", daysAgo(3), 3200, "shipped"},
		{"O-3", "ec-3", daysAgo(100), 8800, "delivered"},
		{"O-4", "ec-3", daysAgo(3), 1500, "shipped"},
		{"O-5", "ec-4", daysAgo(2), 4200, "cancelled"},
	} {
		batch.Queue(`INSERT INTO orders VALUES ($1, $2, $3, $4, 1, 'WEB', 'online', $5)`, o.id, o.customer, o.at, o.amount, o.status)
	}
	if err := conn.SendBatch(ctx, batch).Close(); err != nil {
		t.Fatal(err)
	}
	return dsn
}

// webhookPost is the payload of the sample's welcome message to the CRM.
type webhookPost struct {
	Campaign  string `json:"campaign"`
	Step      string `json:"step"`
	ProfileID string `json:"profileID"`
	Name      string `json:"name"`
	Email     string `json:"email"`
	// idempotencyKey is the request's Idempotency-Key.
	idempotencyKey string
}

// crmReceiver stands in for the CRM behind the sample channel crm-webhook. Like a real receiver
// it accepts a request only with the headers of the channel's headers Secret and a valid
// Kizuna-Signature made with the signing key, and treats a repeated Idempotency-Key as the
// duplicate it is; it refuses anything else with 401, which stops the run.
type crmReceiver struct {
	key     []byte
	headers map[string]string

	mu    sync.Mutex
	posts map[string]webhookPost // by Idempotency-Key
	order []string
	// refused holds why each refused request was refused.
	refused []string
}

func (c *crmReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err == nil {
		err = c.verify(r.Header, body)
	}
	var post webhookPost
	if err == nil {
		err = json.Unmarshal(body, &post)
	}
	key := r.Header.Get("Idempotency-Key")
	if err == nil && key == "" {
		err = errors.New("no Idempotency-Key")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.refused = append(c.refused, err.Error())
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if c.posts == nil {
		c.posts = map[string]webhookPost{}
	}
	if _, seen := c.posts[key]; !seen {
		post.idempotencyKey = key
		c.posts[key] = post
		c.order = append(c.order, key)
	}
	w.WriteHeader(http.StatusAccepted)
}

// verify checks the headers Secret's headers and the signature, as pkg/delivery/webhook's
// documentation tells a receiver to.
func (c *crmReceiver) verify(h http.Header, body []byte) error {
	for name, value := range c.headers {
		if got := h.Get(name); got != strings.TrimSpace(value) {
			return fmt.Errorf("header %s is %q, not the value of the headers Secret", name, got)
		}
	}
	var stamp, signature string
	for _, part := range strings.Split(h.Get("Kizuna-Signature"), ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			stamp = v
		case "v1":
			signature = v
		}
	}
	sent, err := strconv.ParseInt(stamp, 10, 64)
	if err != nil {
		return fmt.Errorf("Kizuna-Signature %q has no timestamp", h.Get("Kizuna-Signature"))
	}
	if age := time.Since(time.Unix(sent, 0)); age > 5*time.Minute || age < -5*time.Minute {
		return fmt.Errorf("Kizuna-Signature is %s old", age)
	}
	mac := hmac.New(sha256.New, c.key)
	mac.Write([]byte(stamp + "."))
	mac.Write(body)
	got, err := hex.DecodeString(signature)
	if err != nil || !hmac.Equal(got, mac.Sum(nil)) {
		return errors.New("Kizuna-Signature does not verify with the signing key")
	}
	return nil
}

// accepted returns the messages accepted, each once, in the order they first came.
func (c *crmReceiver) accepted() []webhookPost {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]webhookPost, len(c.order))
	for i, key := range c.order {
		out[i] = c.posts[key]
	}
	return out
}

func (c *crmReceiver) refusals() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.refused)
}
