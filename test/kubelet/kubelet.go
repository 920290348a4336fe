// Package kubelet is a stand-in for a node's kubelet that runs the Pods of Kizuna's Jobs as local
// processes. With a real kube-apiserver, etcd and kube-controller-manager (Job controller and
// garbage collector) it lets tests and the demo exercise the operator's production path, Jobs,
// owner references and status included, on one machine without containers.
//
// It registers one Node, binds the pending Pods whose image it knows, and runs each Pod's single
// container as a process of the executable mapped to that image, with the Pod's environment
// (literal values, Secrets, ConfigMaps and downward-API fields), a working directory of its own and
// its output kept as the Pod's log. It reports phase, container state and exit code as a kubelet
// does, so the Job controller counts successes, failures and retries. Deleting a Pod stops its
// process: TERM, then KILL after the grace period.
//
// Limits: one container per Pod, no init containers, no volumes or probes; a Pod of another shape,
// or with an image it does not know, stays Pending.
package kubelet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"
)

// podIP is the address every Pod gets: its processes run on this host.
const podIP = "127.0.0.1"

// Options configure a Kubelet.
type Options struct {
	// NodeName of the Node to register. Defaults to "kizuna-local".
	NodeName string
	// Images maps an image name to the local executable that plays its entrypoint. Pods whose
	// image is not here stay Pending.
	Images map[string]string
	// RootDir holds a working directory and log per Pod.
	RootDir string
	// ExtraEnv is added to every process, e.g. KUBECONFIG so that workers reach the API server the
	// way an in-cluster service account would let them.
	ExtraEnv []string
}

// Record describes one process the kubelet ran.
type Record struct {
	Namespace, Pod string
	UID            types.UID
	Labels         map[string]string
	Started        time.Time
	// Exited is zero while the process runs.
	Exited   time.Time
	ExitCode int
}

// Kubelet runs Pods bound to its Node as local processes.
type Kubelet struct {
	opts   Options
	client kubernetes.Interface
	source objectSource
	queue  workqueue.TypedRateLimitingInterface[string]
	lister interface {
		GetByKey(key string) (any, bool, error)
	}

	mu        sync.Mutex
	processes map[types.UID]*process
	// started holds every Pod ever started: the informer's copy of a Pod may lag behind its
	// process, and a Pod's container must never run twice.
	started map[types.UID]bool
	history []*Record
}

// process is a Pod's running container.
type process struct {
	cmd      *exec.Cmd
	record   *Record
	logPath  string
	done     chan struct{}
	stopping bool
}

// New returns a Kubelet; Run starts it.
func New(client kubernetes.Interface, opts Options) *Kubelet {
	if opts.NodeName == "" {
		opts.NodeName = "kizuna-local"
	}
	return &Kubelet{
		opts:      opts,
		client:    client,
		source:    apiSource{client: client},
		queue:     workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]()),
		processes: map[types.UID]*process{},
		started:   map[types.UID]bool{},
	}
}

// Run registers the Node and runs Pods until ctx ends; then it kills the processes it started.
func (k *Kubelet) Run(ctx context.Context) error {
	if err := os.MkdirAll(k.opts.RootDir, 0o755); err != nil {
		return err
	}
	if err := k.registerNode(ctx); err != nil {
		return fmt.Errorf("register node %s: %w", k.opts.NodeName, err)
	}
	factory := informers.NewSharedInformerFactory(k.client, 0)
	informer := factory.Core().V1().Pods().Informer()
	k.lister = informer.GetIndexer()
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			k.queue.Add(key)
		}
	}
	if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: enqueue,
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		return errors.New("pod informer did not sync")
	}

	var workers sync.WaitGroup
	for range 4 {
		workers.Go(func() {
			for k.processNext(ctx) {
			}
		})
	}
	<-ctx.Done()
	k.queue.ShutDown()
	workers.Wait()
	factory.Shutdown()
	k.killAll()
	return nil
}

// History returns a copy of the records of every process started so far, in start order.
func (k *Kubelet) History() []Record {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]Record, len(k.history))
	for i, r := range k.history {
		out[i] = *r
	}
	return out
}

// Logs returns what the processes of a Pod wrote to stdout and stderr.
func (k *Kubelet) Logs(namespace, pod string) (string, error) {
	data, err := os.ReadFile(filepath.Join(k.podDir(namespace, pod), "log"))
	return string(data), err
}

// Kill sends SIGKILL to a Pod's process without deleting the Pod, as an out-of-memory kill or a
// crash would end it.
func (k *Kubelet) Kill(uid types.UID) error {
	k.mu.Lock()
	p, ok := k.processes[uid]
	k.mu.Unlock()
	if !ok {
		return fmt.Errorf("no running process for pod %s", uid)
	}
	return syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
}

func (k *Kubelet) processNext(ctx context.Context) bool {
	key, shutdown := k.queue.Get()
	if shutdown {
		return false
	}
	defer k.queue.Done(key)
	if err := k.sync(ctx, key); err != nil {
		k.queue.AddRateLimited(key)
		return true
	}
	k.queue.Forget(key)
	return true
}

// sync moves one Pod along: bind it, start it, or stop it.
func (k *Kubelet) sync(ctx context.Context, key string) error {
	obj, exists, err := k.lister.GetByKey(key)
	if err != nil || !exists {
		return err
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil
	}
	switch {
	case pod.Spec.NodeName == "":
		return k.bind(ctx, pod)
	case pod.Spec.NodeName != k.opts.NodeName:
		return nil
	case pod.DeletionTimestamp != nil:
		return k.stop(ctx, pod)
	case pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed:
		return nil
	default:
		return k.start(ctx, pod)
	}
}

// runnable says whether the kubelet can run a Pod: one container, no init containers, an image
// it knows.
func (k *Kubelet) runnable(pod *corev1.Pod) bool {
	if len(pod.Spec.InitContainers) > 0 || len(pod.Spec.Containers) != 1 {
		return false
	}
	_, ok := k.opts.Images[pod.Spec.Containers[0].Image]
	return ok
}

func (k *Kubelet) bind(ctx context.Context, pod *corev1.Pod) error {
	if !k.runnable(pod) {
		return nil // it stays Pending
	}
	err := k.client.CoreV1().Pods(pod.Namespace).Bind(ctx, &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: k.opts.NodeName},
	}, metav1.CreateOptions{})
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		return nil // bound meanwhile, or gone
	}
	return err
}

func (k *Kubelet) podDir(namespace, name string) string {
	return filepath.Join(k.opts.RootDir, namespace+"_"+name)
}

// start runs a bound Pod's container, once.
func (k *Kubelet) start(ctx context.Context, pod *corev1.Pod) error {
	k.mu.Lock()
	started := k.started[pod.UID]
	k.started[pod.UID] = true
	k.mu.Unlock()
	if started || pod.Status.Phase == corev1.PodRunning {
		return nil
	}
	c := &pod.Spec.Containers[0]
	env, err := containerEnv(ctx, k.source, pod, c, k.opts.NodeName)
	if err != nil {
		// As a kubelet does, keep the Pod Pending and try again: the Secret may appear.
		k.mu.Lock()
		delete(k.started, pod.UID)
		k.mu.Unlock()
		k.writeStatus(ctx, pod, func(s *corev1.PodStatus) { waiting(s, pod, "CreateContainerConfigError", err.Error()) })
		return err
	}
	argv := k.commandLine(c, env)
	dir := k.podDir(pod.Namespace, pod.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	p, err := k.launch(pod, argv, env, dir)
	if err != nil {
		return k.failToStart(ctx, pod, err)
	}
	go k.supervise(context.WithoutCancel(ctx), pod, p, argv, env, dir)
	return nil
}

// commandLine maps the container's command and args onto local executables: an empty command runs
// the image's executable with the args; a command whose first word names the image's executable
// runs that executable; any other command runs as written, found on PATH.
func (k *Kubelet) commandLine(c *corev1.Container, env []string) []string {
	image := k.opts.Images[c.Image]
	command := expandAll(c.Command, env)
	args := expandAll(c.Args, env)
	switch {
	case len(command) == 0:
		return append([]string{image}, args...)
	case filepath.Base(command[0]) == filepath.Base(image):
		return append(append([]string{image}, command[1:]...), args...)
	default:
		return append(slices.Clone(command), args...)
	}
}

func (k *Kubelet) launch(pod *corev1.Pod, argv, env []string, dir string) (*process, error) {
	logPath := filepath.Join(dir, "log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir,
		"TMPDIR=" + dir,
		"HOSTNAME=" + pod.Name,
	}, k.opts.ExtraEnv...), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// A process group of its own, so that stopping the Pod stops whatever it started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	_ = logFile.Close() // the child holds its own descriptor
	record := &Record{Namespace: pod.Namespace, Pod: pod.Name, UID: pod.UID, Labels: pod.Labels, Started: time.Now()}
	p := &process{cmd: cmd, record: record, logPath: logPath, done: make(chan struct{})}
	k.mu.Lock()
	k.processes[pod.UID] = p
	k.history = append(k.history, record)
	k.mu.Unlock()
	return p, nil
}

// supervise reports a process's life in the Pod's status, restarting it for restartPolicy
// OnFailure, until it ends for good.
func (k *Kubelet) supervise(ctx context.Context, pod *corev1.Pod, p *process, argv, env []string, dir string) {
	restarts := int32(0)
	var lastState corev1.ContainerState
	for {
		started := metav1.NewTime(p.record.Started)
		k.writeStatus(ctx, pod, func(s *corev1.PodStatus) {
			running(s, pod, started, restarts, lastState)
		})

		exitCode := wait4(p.cmd)
		finished := time.Now()
		k.mu.Lock()
		p.record.Exited, p.record.ExitCode = finished, exitCode
		stopping := p.stopping
		k.mu.Unlock()

		terminated := corev1.ContainerStateTerminated{
			ExitCode:   int32(exitCode),
			Reason:     terminationReason(exitCode),
			StartedAt:  started,
			FinishedAt: metav1.NewTime(finished),
		}
		if exitCode != 0 && !stopping && pod.Spec.RestartPolicy == corev1.RestartPolicyOnFailure {
			next, err := k.launch(pod, argv, env, dir)
			if err == nil {
				close(p.done)
				p = next
				restarts++
				lastState = corev1.ContainerState{Terminated: &terminated}
				continue
			}
		}
		k.writeStatus(ctx, pod, func(s *corev1.PodStatus) {
			finishedStatus(s, pod, terminated, restarts, lastState)
		})
		k.mu.Lock()
		delete(k.processes, pod.UID)
		k.mu.Unlock()
		close(p.done)
		// A Pod deleted while it ran is finished off by stop; wake it.
		if key, err := cache.MetaNamespaceKeyFunc(pod); err == nil {
			k.queue.Add(key)
		}
		return
	}
}

// wait4 waits for a process and returns its exit code, 128+signal for a killed process.
func wait4(cmd *exec.Cmd) int {
	err := cmd.Wait()
	if err == nil {
		return 0
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return exitErr.ExitCode()
	}
	return 1
}

func terminationReason(exitCode int) string {
	if exitCode == 0 {
		return "Completed"
	}
	return "Error"
}

// failToStart reports a container whose executable could not start as a failed Pod, as a kubelet
// reports a container runtime's StartError.
func (k *Kubelet) failToStart(ctx context.Context, pod *corev1.Pod, cause error) error {
	now := metav1.Now()
	k.writeStatus(ctx, pod, func(s *corev1.PodStatus) {
		finishedStatus(s, pod, corev1.ContainerStateTerminated{
			ExitCode: 128, Reason: "StartError", Message: cause.Error(), StartedAt: now, FinishedAt: now,
		}, 0, corev1.ContainerState{})
	})
	return nil
}

// stop ends a deleted Pod: TERM to its processes, KILL after the grace period, a Failed status if
// it had not finished, then the final delete with grace 0 that removes the object.
func (k *Kubelet) stop(ctx context.Context, pod *corev1.Pod) error {
	k.mu.Lock()
	p, running := k.processes[pod.UID]
	if running {
		p.stopping = true
	}
	k.mu.Unlock()
	if running {
		grace := 30 * time.Second
		if pod.DeletionGracePeriodSeconds != nil {
			grace = time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
		}
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	}
	zero := int64(0)
	err := k.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero,
		Preconditions:      &metav1.Preconditions{UID: &pod.UID},
	})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}

// writeStatus applies change to the latest status of the Pod. It never moves a finished Pod back
// to Running.
func (k *Kubelet) writeStatus(ctx context.Context, pod *corev1.Pod, change func(*corev1.PodStatus)) {
	_ = retry.OnError(retry.DefaultBackoff, func(err error) bool { return !apierrors.IsNotFound(err) }, func() error {
		latest, err := k.client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if latest.UID != pod.UID || latest.Status.Phase == corev1.PodSucceeded || latest.Status.Phase == corev1.PodFailed {
			return nil
		}
		change(&latest.Status)
		_, err = k.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, latest, metav1.UpdateOptions{})
		return err
	})
}

func waiting(s *corev1.PodStatus, pod *corev1.Pod, reason, message string) {
	c := pod.Spec.Containers[0]
	s.Phase = corev1.PodPending
	s.ContainerStatuses = []corev1.ContainerStatus{{
		Name:  c.Name,
		Image: c.Image,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: message}},
	}}
}

func running(s *corev1.PodStatus, pod *corev1.Pod, started metav1.Time, restarts int32, last corev1.ContainerState) {
	s.Phase = corev1.PodRunning
	s.HostIP, s.PodIP = podIP, podIP
	s.PodIPs = []corev1.PodIP{{IP: podIP}}
	if s.StartTime == nil {
		s.StartTime = &started
	}
	c := pod.Spec.Containers[0]
	s.ContainerStatuses = []corev1.ContainerStatus{{
		Name:                 c.Name,
		Image:                c.Image,
		ImageID:              c.Image,
		Ready:                true,
		Started:              ptrTo(true),
		RestartCount:         restarts,
		State:                corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}},
		LastTerminationState: last,
	}}
	setConditions(s, started, corev1.ConditionTrue, "")
}

func finishedStatus(s *corev1.PodStatus, pod *corev1.Pod, t corev1.ContainerStateTerminated, restarts int32, last corev1.ContainerState) {
	s.Phase = corev1.PodSucceeded
	if t.ExitCode != 0 {
		s.Phase = corev1.PodFailed
	}
	s.HostIP, s.PodIP = podIP, podIP
	s.PodIPs = []corev1.PodIP{{IP: podIP}}
	if s.StartTime == nil {
		s.StartTime = &t.StartedAt
	}
	c := pod.Spec.Containers[0]
	s.ContainerStatuses = []corev1.ContainerStatus{{
		Name:                 c.Name,
		Image:                c.Image,
		ImageID:              c.Image,
		Started:              ptrTo(false),
		RestartCount:         restarts,
		State:                corev1.ContainerState{Terminated: &t},
		LastTerminationState: last,
	}}
	setConditions(s, t.FinishedAt, corev1.ConditionFalse, "PodCompleted")
}

func setConditions(s *corev1.PodStatus, at metav1.Time, ready corev1.ConditionStatus, reason string) {
	set := func(t corev1.PodConditionType, status corev1.ConditionStatus, reason string) {
		for i := range s.Conditions {
			if s.Conditions[i].Type == t {
				if s.Conditions[i].Status != status {
					s.Conditions[i].LastTransitionTime = at
				}
				s.Conditions[i].Status, s.Conditions[i].Reason = status, reason
				return
			}
		}
		s.Conditions = append(s.Conditions, corev1.PodCondition{Type: t, Status: status, Reason: reason, LastTransitionTime: at})
	}
	set(corev1.PodInitialized, corev1.ConditionTrue, "")
	set(corev1.ContainersReady, ready, reason)
	set(corev1.PodReady, ready, reason)
}

func ptrTo[T any](v T) *T { return &v }

// registerNode creates the Node (or takes over an existing one), marks it Ready and clears the
// not-ready taint: no node-lifecycle controller runs to do it.
func (k *Kubelet) registerNode(ctx context.Context) error {
	nodes := k.client.CoreV1().Nodes()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name:   k.opts.NodeName,
		Labels: map[string]string{"kubernetes.io/hostname": k.opts.NodeName, "kubernetes.io/os": "linux"},
	}}
	created, err := nodes.Create(ctx, node, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		created, err = nodes.Get(ctx, k.opts.NodeName, metav1.GetOptions{})
	}
	if err != nil {
		return err
	}
	return wait.ExponentialBackoffWithContext(ctx, retry.DefaultBackoff, func(ctx context.Context) (bool, error) {
		latest, err := nodes.Get(ctx, created.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		latest.Spec.Taints = nil
		if latest, err = nodes.Update(ctx, latest, metav1.UpdateOptions{}); apierrors.IsConflict(err) {
			return false, nil
		} else if err != nil {
			return false, err
		}
		now := metav1.Now()
		latest.Status.Conditions = []corev1.NodeCondition{{
			Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
			Message: "local process kubelet is ready", LastHeartbeatTime: now, LastTransitionTime: now,
		}}
		capacity := corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("2"),
			corev1.ResourceMemory: resource.MustParse("8Gi"),
			corev1.ResourcePods:   resource.MustParse("110"),
		}
		latest.Status.Capacity, latest.Status.Allocatable = capacity, capacity
		latest.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: podIP}, {Type: corev1.NodeHostName, Address: k.opts.NodeName}}
		if _, err := nodes.UpdateStatus(ctx, latest, metav1.UpdateOptions{}); apierrors.IsConflict(err) {
			return false, nil
		} else if err != nil {
			return false, err
		}
		return true, nil
	})
}

// killAll kills every process at shutdown.
func (k *Kubelet) killAll() {
	k.mu.Lock()
	procs := make([]*process, 0, len(k.processes))
	for _, p := range k.processes {
		procs = append(procs, p)
	}
	k.mu.Unlock()
	for _, p := range procs {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}
