// Command demo is what `make demo` runs. It starts a local cluster that runs Jobs (test/cluster),
// runs Kizuna's manager against it as a process of bin/kizuna, and shows:
//
//  1. config/samples, a complete scenario for every kind, applied without its Secrets: each
//     resource says what it waits for, and turns Ready as soon as the Secrets appear. The samples'
//     sources are placeholders, so their syncs are suspended.
//  2. examples/retail, four customer-data sources with real files: each DataSource syncs in a Job,
//     bad rows are quarantined with their line numbers, and the records land in the store;
//  3. the IdentityResolution merges them into profiles, the Segments are evaluated, and the
//     newsletter Campaign delivers to an SMTP server (Mailpit) the demo starts;
//  4. a click on the newsletter's tracked link, served by the manager's link server, is an event:
//     a Segment selects who clicked, and an event-triggered Campaign sends them a follow-up;
//  5. examples/febrl-dedupe: records without a shared key, deduplicated by learnt match weights.
//
// It stops everything it started on Ctrl-C, or right after showing the result with -exit.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/kizuna-dev/kizuna/test/cluster"
	"github.com/kizuna-dev/kizuna/test/envtest"
	"github.com/kizuna-dev/kizuna/test/mailsink"
)

const (
	samplesNamespace  = "kizuna-samples"
	examplesNamespace = "kizuna-demo"
	febrlNamespace    = "kizuna-febrl"
	// workerImage is the image the manager's Jobs run; the process kubelet runs it as bin/kizuna.
	workerImage = "ghcr.io/kizuna-dev/kizuna:demo"
	secretsFile = "secrets.yaml"
	// linkSecret is the Secret, in each namespace that sends, whose key signs the links in
	// messages.
	linkSecret = "kizuna-links"
)

func main() {
	kizuna := flag.String("kizuna", "bin/kizuna", "the kizuna binary to run as the manager and the workers")
	exit := flag.Bool("exit", false, "exit after showing the result instead of waiting for Ctrl-C")
	timeout := flag.Duration("timeout", 2*time.Minute, "how long to wait for each step")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, *kizuna, *exit, *timeout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// demo holds what the steps share.
type demo struct {
	ctx        context.Context
	client     client.Client
	kubectlBin string
	kubeconfig string
	binary     string
	storeDSN   string
	timeout    time.Duration
	// sink is the SMTP server the example campaign delivers to.
	sink *mailsink.Server
	// linkAddr is where the manager serves the unsubscribe and tracking links, and linkBaseURL
	// the base of the links in messages.
	linkAddr, linkBaseURL string
}

func run(ctx context.Context, kizuna string, exitAfterShowing bool, timeout time.Duration) error {
	binary, err := filepath.Abs(kizuna)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "kizuna-demo-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()

	step("starting the local cluster: etcd, kube-apiserver, kube-controller-manager and the process kubelet")
	started := time.Now()
	local, err := cluster.Start(cluster.Options{Dir: dir, Images: map[string]string{workerImage: binary}})
	if err != nil {
		return err
	}
	defer func() {
		step("stopping the local cluster")
		if err := local.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "demo: stop the cluster:", err)
		}
	}()
	fmt.Printf("    ready in %.1fs\n", time.Since(started).Seconds())

	assets, err := envtest.AssetsDir()
	if err != nil {
		return err
	}
	c, err := client.New(local.Config, client.Options{})
	if err != nil {
		return err
	}
	linkAddr, err := freeLoopbackAddr()
	if err != nil {
		return err
	}
	d := &demo{ctx: ctx, client: c, kubectlBin: filepath.Join(assets, "kubectl"), kubeconfig: local.Kubeconfig,
		binary: binary, storeDSN: "sqlite:" + filepath.Join(dir, "kizuna.db"), timeout: timeout,
		linkAddr: linkAddr, linkBaseURL: "http://" + linkAddr}

	step("starting the manager: " + kizuna + " manager --store-dsn " + d.storeDSN +
		" --links-bind-address " + d.linkAddr + " --link-base-url " + d.linkBaseURL + " --link-secret " + linkSecret)
	logPath := filepath.Join(dir, "manager.log")
	stopManager, err := d.startManager(logPath)
	if err != nil {
		return err
	}
	defer stopManager()

	defer func() {
		if d.sink != nil {
			_ = d.sink.Stop()
		}
	}()
	err = d.samples()
	if err == nil {
		err = d.examples()
	}
	if err == nil {
		err = d.clicks()
	}
	if err == nil {
		err = d.probabilistic()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v; the manager's log is below\n", err)
		if log, readErr := os.ReadFile(logPath); readErr == nil {
			_, _ = os.Stderr.Write(log)
		}
		return err
	}

	if exitAfterShowing {
		return nil
	}
	fmt.Printf("\nThe cluster keeps running. Try:\n  KUBECONFIG=%s %s get kizuna,jobs -A\n  %s export records --store %s -n %s --source business-cards\nPress Ctrl-C to stop.\n",
		d.kubeconfig, d.kubectlBin, kizuna, d.storeDSN, examplesNamespace)
	<-ctx.Done()
	return nil
}

func (d *demo) startManager(logPath string) (stop func(), err error) {
	manager := exec.Command(d.binary, "manager", "--metrics-bind-address=0", "--health-probe-bind-address=0",
		"--store-dsn="+d.storeDSN, "--worker-image="+workerImage,
		"--links-bind-address="+d.linkAddr, "--link-base-url="+d.linkBaseURL, "--link-secret="+linkSecret)
	manager.Env = append(os.Environ(), "KUBECONFIG="+d.kubeconfig)
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	manager.Stdout, manager.Stderr = logFile, logFile
	if err := manager.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("start %s (run `make build` first): %w", d.binary, err)
	}
	return func() {
		step("stopping the manager")
		_ = manager.Process.Signal(syscall.SIGTERM)
		_ = manager.Wait()
		_ = logFile.Close()
	}, nil
}

// samples is the first act: readiness follows references, without a resync.
func (d *demo) samples() error {
	dir := filepath.Join(envtest.RepoRoot(), "config", "samples")
	files, err := kustomizationFiles(dir)
	if err != nil {
		return err
	}
	if err := d.createNamespace(samplesNamespace); err != nil {
		return err
	}
	suspend := func(u *unstructured.Unstructured) error {
		if u.GetKind() == "DataSource" {
			return unstructured.SetNestedField(u.Object, true, "spec", "suspend")
		}
		return nil
	}
	step("1. config/samples without secrets.yaml, in namespace " + samplesNamespace +
		" (their sources are placeholders, so the demo suspends their syncs)")
	for _, f := range files {
		if f != secretsFile {
			if err := d.apply(samplesNamespace, filepath.Join(dir, f), suspend); err != nil {
				return err
			}
		}
	}
	if err := d.waitFor(samplesNamespace, time.Now(), "every resource has a Ready condition", allReconciled); err != nil {
		return err
	}
	step("kubectl get kizuna -o wide: each resource says what it waits for")
	d.kubectl("get", "kizuna", "-n", samplesNamespace, "-o", "wide")
	step("why is the welcome series waiting? (its Ready condition's message)")
	d.kubectl("get", "campaign", "welcome-series", "-n", samplesNamespace,
		"-o", `jsonpath={.status.conditions[?(@.type=="Ready")].message}{"\n"}`)

	step("applying secrets.yaml: every resource turns Ready at once, without a resync")
	applied := time.Now()
	if err := d.apply(samplesNamespace, filepath.Join(dir, secretsFile), nil); err != nil {
		return err
	}
	if err := d.waitFor(samplesNamespace, applied, "every resource is Ready", allReady); err != nil {
		d.kubectl("get", "kizuna", "-n", samplesNamespace, "-o", "wide")
		return err
	}
	d.kubectl("get", "kizuna", "-n", samplesNamespace)
	return nil
}

// applyExample applies the manifests of an example folder into a namespace. The process
// kubelet runs workers on this machine, so a file source's path can point into the repository:
// the local stand-in for a volume mounted into the worker.
func (d *demo) applyExample(namespace, dir string) error {
	absolutePaths := func(u *unstructured.Unstructured) error {
		path, found, _ := unstructured.NestedString(u.Object, "spec", "source", "file", "path")
		if found && !filepath.IsAbs(path) {
			return unstructured.SetNestedField(u.Object, filepath.Join(dir, path), "spec", "source", "file", "path")
		}
		// The example's SMTP channel points at a local server: the demo's own Mailpit.
		// Decoded YAML holds numbers as float64.
		if port, found, _ := unstructured.NestedFieldNoCopy(u.Object, "spec", "smtp", "port"); found && port == float64(1025) && d.sink != nil {
			return unstructured.SetNestedField(u.Object, int64(d.sink.SMTPPort()), "spec", "smtp", "port")
		}
		return nil
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := d.apply(namespace, f, absolutePaths); err != nil {
			return err
		}
	}
	return d.waitForJobs(namespace)
}

// examples is the second act: DataSources sync real files in Jobs.
func (d *demo) examples() error {
	dir := filepath.Join(envtest.RepoRoot(), "examples", "retail")
	step("2. examples/retail in namespace " + examplesNamespace + ": four sources of 株式会社絆ストア's customers")
	sink, err := mailsink.Start(mailsink.Options{})
	if err != nil {
		return fmt.Errorf("start the SMTP server the example campaign sends to: %w", err)
	}
	d.sink = sink
	fmt.Printf("    an SMTP server (Mailpit) listens on %s for the example campaign\n", sink.SMTPAddr())
	started := time.Now()
	if err := d.createNamespace(examplesNamespace); err != nil {
		return err
	}
	step("kubectl create secret generic " + linkSecret + " --from-literal=key=<32 random bytes, hex>: the key that signs the links in this namespace's messages")
	if err := d.createLinkSecret(examplesNamespace); err != nil {
		return err
	}
	if err := d.applyExample(examplesNamespace, dir); err != nil {
		return err
	}
	step("kubectl get kizuna,jobs,pods: each DataSource syncs in a Job, run by the process kubelet")
	d.kubectl("get", "kizuna,jobs,pods", "-n", examplesNamespace)
	if err := d.waitFor(examplesNamespace, started, "every DataSource has synced", allSynced); err != nil {
		d.kubectl("get", "datasources", "-n", examplesNamespace, "-o", "wide")
		return err
	}
	step("kubectl get datasources -o wide")
	d.kubectl("get", "datasources", "-n", examplesNamespace, "-o", "wide")
	step("the CRM row that could not load, from status.lastSync.firstErrors")
	d.kubectl("get", "datasource", "crm-contacts", "-n", examplesNamespace,
		"-o", `jsonpath={range .status.lastSync.firstErrors[*]}line {.row}: {.reason}{"\n"}{end}`)
	step("kizuna export records --source business-cards: Shift_JIS business cards, loaded as written")
	if err := d.run("export", "records", "--store", d.storeDSN, "-n", examplesNamespace, "--source", "business-cards"); err != nil {
		return err
	}
	return d.resolution(dir, started)
}

// resolution is the third act: once its sources have synced, the IdentityResolution merges
// their records into profiles in a Job of its own.
func (d *demo) resolution(dir string, started time.Time) error {
	if err := d.waitFor(examplesNamespace, started, "the IdentityResolution has published profiles", published); err != nil {
		d.kubectl("get", "identityresolutions", "-n", examplesNamespace, "-o", "yaml")
		return err
	}
	step("3. kubectl get identityresolutions -o wide: 24 records of three systems, one profile per customer (名寄せ)")
	d.kubectl("get", "identityresolutions", "-n", examplesNamespace, "-o", "wide")
	step("kizuna export identities: which profile each source record belongs to")
	if err := d.run("export", "identities", "--store", d.storeDSN, "-n", examplesNamespace); err != nil {
		return err
	}
	step("kizuna explain: why the CRM's 田中 健 and his scanned business card are one customer")
	if err := d.run("explain", "-f", filepath.Join(dir, "resolution.yaml"), "-n", examplesNamespace, "--store", d.storeDSN,
		"crm-contacts/C1005", "business-cards/M303"); err != nil {
		return err
	}
	return d.segments(dir, started)
}

// segments follows the third act: the manager evaluates the example's segments once the
// resolution has published, one by attribute and one by behaviour.
func (d *demo) segments(dir string, started time.Time) error {
	if err := d.waitFor(examplesNamespace, started, "every Segment has been evaluated", evaluated); err != nil {
		d.kubectl("get", "segments", "-n", examplesNamespace, "-o", "yaml")
		return err
	}
	step("kubectl get segments -o wide: audiences by attribute (東京都), by behaviour (2 purchases in 180 days), and by clicks on the newsletter (none yet)")
	d.kubectl("get", "segments", "-n", examplesNamespace, "-o", "wide")
	step("kizuna preview segment: size, members with what the rule reads, and the SQL it runs")
	if err := d.run("preview", "segment", "-f", filepath.Join(dir, "segments.yaml"), "--manifests", dir,
		"-n", examplesNamespace, "--store", d.storeDSN, "--sample", "3"); err != nil {
		return err
	}
	return d.campaigns(started)
}

// campaigns follows the segments: the example's newsletter to the Tokyo customers runs as an
// Indexed Job once its segment is evaluated, and its messages arrive at the demo's SMTP server.
func (d *demo) campaigns(started time.Time) error {
	if err := d.waitFor(examplesNamespace, started, "the newsletter's run is complete", runCompleted("autumn-newsletter")); err != nil {
		d.kubectl("get", "campaigns", "-n", examplesNamespace, "-o", "yaml")
		return err
	}
	step("kubectl get campaigns,jobs -l cdp.kizuna.dev/campaign: the newsletter ran as an Indexed Job")
	d.kubectl("get", "campaigns", "-n", examplesNamespace, "-o", "wide")
	d.kubectl("get", "jobs", "-n", examplesNamespace, "-l", "cdp.kizuna.dev/campaign=autumn-newsletter")
	step("status.lastRun.counts: what the ledger recorded")
	d.kubectl("get", "campaign", "autumn-newsletter", "-n", examplesNamespace, "-o", "jsonpath={.status.lastRun.counts}{\"\\n\"}")
	step("the messages at the SMTP server")
	messages, err := d.sink.Messages(d.ctx)
	if err != nil {
		return err
	}
	printMessages(messages)
	return nil
}

func printMessages(messages []mailsink.Summary) {
	for _, m := range messages {
		to := ""
		if len(m.To) > 0 {
			to = m.To[0].Address
		}
		fmt.Printf("    %s  %s  Message-ID <%s>\n", to, m.Subject, m.MessageID)
	}
}

// clicks is the fourth act: a click on a tracked link of the newsletter is an event, recorded by
// the manager's link server, that a segment selects and an event-triggered campaign answers.
func (d *demo) clicks() error {
	step("4. clicks are events: a customer clicks the newsletter's link")
	link, to, err := d.trackedLink(examplesNamespace)
	if err != nil {
		return err
	}
	fmt.Printf("    the message to %s links to the manager's link server, not to the shop:\n    %s\n", to, link)
	step("following the link, as the customer's click does (curl -sI <link>)")
	// The redirect is shown, not followed: the shop's site is not on this machine.
	noRedirects := &http.Client{Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	request, err := http.NewRequestWithContext(d.ctx, http.MethodGet, link, nil)
	if err != nil {
		return err
	}
	response, err := noRedirects.Do(request)
	if err != nil {
		return fmt.Errorf("follow the tracked link: %w", err)
	}
	_ = response.Body.Close()
	if response.StatusCode != http.StatusFound {
		return fmt.Errorf("the tracked link answered %s, not a redirect", response.Status)
	}
	clicked := time.Now()
	fmt.Printf("    %s, Location: %s\n", response.Status, response.Header.Get("Location"))
	fmt.Println("    the link server recorded an event message_clicked for the address the message went to,")
	fmt.Println("    with the newsletter's campaign, run, step and variant, and the url followed")

	step("waiting for what selects the event: both look every minute")
	fmt.Println("    Segment newsletter-clickers: a rule on message_clicked events of the newsletter, evaluated every minute")
	fmt.Println("    Campaign autumn-follow-up: spec.trigger.event {type: message_clicked, where: campaign = autumn-newsletter, checkEvery: 1m}")
	followedUp := func(states []state) bool {
		return runCompleted("autumn-follow-up")(states) && slices.ContainsFunc(states, func(s state) bool {
			return s.kind == "Segment" && s.name == "newsletter-clickers" && s.size > 0
		})
	}
	if err := d.waitFor(examplesNamespace, clicked, "the segment holds the customer who clicked, and the follow-up's run is complete", followedUp); err != nil {
		d.kubectl("get", "segment,campaign", "-n", examplesNamespace, "-o", "wide")
		return err
	}
	step("kubectl get segment newsletter-clickers -o wide: the click, selected by a segment")
	d.kubectl("get", "segment", "newsletter-clickers", "-n", examplesNamespace, "-o", "wide")
	step("kubectl get campaign autumn-follow-up, and its Job: a run for who clicked, started by the event")
	d.kubectl("get", "campaign", "autumn-follow-up", "-n", examplesNamespace)
	d.kubectl("get", "jobs", "-n", examplesNamespace, "-l", "cdp.kizuna.dev/campaign=autumn-follow-up")
	step("the follow-up at the SMTP server: only the customer who clicked receives it")
	messages, err := d.sink.Messages(d.ctx)
	if err != nil {
		return err
	}
	printMessages(slices.DeleteFunc(messages, func(m mailsink.Summary) bool { return m.Created.Before(clicked) }))
	return nil
}

// trackedLink returns the first click-tracking link of a namespace's messages at the SMTP
// server, and the address of the message it is in.
func (d *demo) trackedLink(namespace string) (link, to string, err error) {
	pattern := regexp.MustCompile(regexp.QuoteMeta(d.linkBaseURL+"/"+namespace+"/c/") + `\S+`)
	summaries, err := d.sink.Messages(d.ctx)
	if err != nil {
		return "", "", err
	}
	for _, s := range summaries {
		m, err := d.sink.Message(d.ctx, s.ID)
		if err != nil {
			return "", "", err
		}
		if link := pattern.FindString(m.Text); link != "" && len(m.To) > 0 {
			return link, m.To[0].Address, nil
		}
	}
	return "", "", errors.New("no message at the SMTP server has a tracked link")
}

// createLinkSecret creates the namespace's link signing key: 32 random bytes, the least the
// manager accepts.
func (d *demo) createLinkSecret(namespace string) error {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	secret := &unstructured.Unstructured{}
	secret.SetAPIVersion("v1")
	secret.SetKind("Secret")
	secret.SetNamespace(namespace)
	secret.SetName(linkSecret)
	if err := unstructured.SetNestedField(secret.Object, map[string]any{"key": hex.EncodeToString(key)}, "stringData"); err != nil {
		return err
	}
	if err := d.client.Create(d.ctx, secret); err != nil {
		return fmt.Errorf("create Secret %s: %w", linkSecret, err)
	}
	fmt.Printf("    Secret/%s created\n", linkSecret)
	return nil
}

// freeLoopbackAddr returns a loopback address with a port free at the time of the call.
func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
}

// probabilistic is the fifth act: records without a shared key, deduplicated by match weights
// that EM learns from the data itself.
func (d *demo) probabilistic() error {
	dir := filepath.Join(envtest.RepoRoot(), "examples", "febrl-dedupe")
	step("5. examples/febrl-dedupe in namespace " + febrlNamespace + ": 2,000 person records with typos, no email, no phone")
	started := time.Now()
	if err := d.createNamespace(febrlNamespace); err != nil {
		return err
	}
	if err := d.applyExample(febrlNamespace, dir); err != nil {
		return err
	}
	if err := d.waitFor(febrlNamespace, started, "the probabilistic resolution has published profiles", published); err != nil {
		d.kubectl("get", "kizuna,jobs", "-n", febrlNamespace)
		return err
	}
	step("kubectl get identityresolutions -o wide: duplicates found without labelled data")
	d.kubectl("get", "identityresolutions", "-n", febrlNamespace, "-o", "wide")
	step("kizuna explain: a person typed twice, address lines swapped, linked by the weights of what agrees")
	return d.run("explain", "-f", filepath.Join(dir, "resolution.yaml"), "-n", febrlNamespace, "--store", d.storeDSN,
		"records/rec-1559-org", "records/rec-1559-dup-0")
}

// run runs the kizuna binary with its output shown.
func (d *demo) run(args ...string) error {
	cmd := exec.CommandContext(d.ctx, d.binary, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run()
}

func (d *demo) kubectl(args ...string) {
	cmd := exec.CommandContext(d.ctx, d.kubectlBin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+d.kubeconfig)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	_ = cmd.Run()
}

func (d *demo) createNamespace(name string) error {
	ns := &unstructured.Unstructured{}
	ns.SetAPIVersion("v1")
	ns.SetKind("Namespace")
	ns.SetName(name)
	return d.client.Create(d.ctx, ns)
}

// apply creates every document of a file in a namespace, after change (when not nil) edits it.
func (d *demo) apply(namespace, file string, change func(*unstructured.Unstructured) error) error {
	raw, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	for {
		u := &unstructured.Unstructured{}
		err := decoder.Decode(&u.Object)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		if len(u.Object) == 0 {
			continue
		}
		u.SetNamespace(namespace)
		if change != nil {
			if err := change(u); err != nil {
				return err
			}
		}
		if err := d.client.Create(d.ctx, u); err != nil {
			return fmt.Errorf("create %s %s from %s: %w", u.GetKind(), u.GetName(), filepath.Base(file), err)
		}
		fmt.Printf("    %s/%s created\n", u.GetKind(), u.GetName())
	}
}

// kustomizationFiles lists a folder's files in the order its kustomization applies them.
func kustomizationFiles(dir string) ([]string, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		return nil, err
	}
	var k struct {
		Resources []string `json:"resources"`
	}
	if err := yaml.Unmarshal(raw, &k); err != nil {
		return nil, fmt.Errorf("read %s/kustomization.yaml: %w", dir, err)
	}
	return k.Resources, nil
}

var kinds = []string{"DataSource", "IdentityResolution", "Segment", "Channel", "DeliveryPolicy", "Campaign"}

// state is what the demo waits on: each Kizuna object's kind, name and conditions.
type state struct {
	kind, name string
	conditions map[string]string // type -> status
	reasons    map[string]string // type -> reason
	// runCompleted tells, of a Campaign, that its latest run is complete.
	runCompleted bool
	// size is a Segment's number of members.
	size int64
}

func (d *demo) states(namespace string) ([]state, error) {
	var out []state
	for _, kind := range kinds {
		var list unstructured.UnstructuredList
		list.SetGroupVersionKind(schema.GroupVersionKind{Group: "cdp.kizuna.dev", Version: "v1alpha1", Kind: kind + "List"})
		if err := d.client.List(d.ctx, &list, client.InNamespace(namespace)); err != nil {
			return nil, err
		}
		for _, item := range list.Items {
			s := state{kind: kind, name: item.GetName(), conditions: map[string]string{}, reasons: map[string]string{}}
			_, s.runCompleted, _ = unstructured.NestedString(item.Object, "status", "lastRun", "completionTime")
			s.size, _, _ = unstructured.NestedInt64(item.Object, "status", "size")
			conds, _, _ := unstructured.NestedSlice(item.Object, "status", "conditions")
			for _, c := range conds {
				if m, ok := c.(map[string]any); ok {
					t, _ := m["type"].(string)
					s.conditions[t], _ = m["status"].(string)
					s.reasons[t], _ = m["reason"].(string)
				}
			}
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no Kizuna resources found")
	}
	return out, nil
}

func allReconciled(states []state) bool {
	return !slices.ContainsFunc(states, func(s state) bool { return s.conditions["Ready"] == "" })
}

func allReady(states []state) bool {
	return !slices.ContainsFunc(states, func(s state) bool { return s.conditions["Ready"] != "True" })
}

func allSynced(states []state) bool {
	return !slices.ContainsFunc(states, func(s state) bool {
		return s.kind == "DataSource" && (s.reasons["Synced"] == "" || s.reasons["Synced"] == "NeverSynced" || s.conditions["Syncing"] == "True")
	})
}

func published(states []state) bool {
	return !slices.ContainsFunc(states, func(s state) bool {
		return s.kind == "IdentityResolution" && s.conditions["Resolved"] != "True"
	})
}

// runCompleted holds once the named Campaign's latest run is complete.
func runCompleted(campaign string) func([]state) bool {
	return func(states []state) bool {
		return slices.ContainsFunc(states, func(s state) bool {
			return s.kind == "Campaign" && s.name == campaign && s.runCompleted
		})
	}
}

func evaluated(states []state) bool {
	return !slices.ContainsFunc(states, func(s state) bool {
		return s.kind == "Segment" && s.conditions["Evaluated"] != "True"
	})
}

// waitFor polls a namespace until done holds, and reports how long it took since started.
func (d *demo) waitFor(namespace string, started time.Time, what string, done func([]state) bool) error {
	ctx, cancel := context.WithTimeout(d.ctx, d.timeout)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		states, err := d.states(namespace)
		if err == nil && done(states) {
			fmt.Printf("    %s (%d resources, %.1fs)\n", what, len(states), time.Since(started).Seconds())
			return nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("not yet after %s: %s", d.timeout, what)
			}
			return err
		case <-tick.C:
		}
	}
}

// waitForJobs waits until the namespace has sync Jobs, so there is something to show.
func (d *demo) waitForJobs(namespace string) error {
	ctx, cancel := context.WithTimeout(d.ctx, d.timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		var jobs unstructured.UnstructuredList
		jobs.SetGroupVersionKind(schema.GroupVersionKind{Group: "batch", Version: "v1", Kind: "JobList"})
		if err := d.client.List(ctx, &jobs, client.InNamespace(namespace)); err == nil && len(jobs.Items) > 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.New("no sync Job appeared")
		case <-tick.C:
		}
	}
}

func step(msg string) { fmt.Printf("==> %s\n", msg) }
