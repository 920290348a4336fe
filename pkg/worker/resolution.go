package worker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"

	cdpv1alpha1 "github.com/kizuna-dev/kizuna/api/v1alpha1"
	"github.com/kizuna-dev/kizuna/pkg/identity"
	"github.com/kizuna-dev/kizuna/pkg/match"
	"github.com/kizuna-dev/kizuna/pkg/resolve"
	"github.com/kizuna-dev/kizuna/pkg/store"
)

// DefaultMatchThreshold is the match probability above which a pair is linked when the spec
// sets none; the API defaults it too, but manifests run locally skip admission defaulting.
const DefaultMatchThreshold = 0.95

// ResolveConfig builds the resolution configuration of an IdentityResolution.
func ResolveConfig(idr *cdpv1alpha1.IdentityResolution) (*resolve.Config, error) {
	spec := &idr.Spec
	norm, err := identity.NewNormalizer(identity.Options{
		DefaultRegion: spec.Normalization.DefaultRegion, ExtraLegalForms: spec.Normalization.ExtraLegalForms,
	})
	if err != nil {
		return nil, fmt.Errorf("spec.normalization: %w", err)
	}
	cfg := &resolve.Config{
		Namespace: idr.Namespace, Name: idr.Name, Normalizer: norm, ProfileIDPrefix: spec.ProfileIDPrefix,
		Survivorship: resolve.Survivorship{Default: resolve.Strategy(spec.Survivorship.Default)},
	}
	for _, s := range spec.Sources {
		cfg.Sources = append(cfg.Sources, resolve.Source{Name: s.Name, Priority: int(s.Priority)})
	}
	for _, a := range spec.Survivorship.Attributes {
		if cfg.Survivorship.Attributes == nil {
			cfg.Survivorship.Attributes = map[string]resolve.Strategy{}
		}
		cfg.Survivorship.Attributes[string(a.Name)] = resolve.Strategy(a.Strategy)
	}
	for _, r := range spec.Deterministic {
		rule := resolve.DeterministicRule{Name: r.Name, MaxRecordsPerValue: int(r.MaxRecordsPerValue)}
		for _, t := range r.Identifiers {
			key := string(t)
			if t == cdpv1alpha1.IdentifierCustom {
				key += ":" + string(r.CustomName)
			}
			rule.Identifiers = append(rule.Identifiers, key)
		}
		cfg.Deterministic = append(cfg.Deterministic, rule)
	}
	if p := spec.Probabilistic; p != nil {
		mc, err := matchConfig(p)
		if err != nil {
			return nil, err
		}
		cfg.Probabilistic = mc
	}
	return cfg, nil
}

func matchConfig(p *cdpv1alpha1.ProbabilisticMatching) (*match.Config, error) {
	mc := &match.Config{
		MatchThreshold: DefaultMatchThreshold, TermFrequency: p.TermFrequencyAdjustment, MaxIterations: int(p.MaxIterations),
	}
	if p.MatchThreshold != nil {
		mc.MatchThreshold = *p.MatchThreshold
	}
	for _, b := range p.Blocking {
		rule := match.BlockingRule{Name: b.Name}
		for _, f := range b.Fields {
			rule.Fields = append(rule.Fields, string(f))
		}
		mc.Blocking = append(mc.Blocking, rule)
	}
	for i, c := range p.Comparisons {
		cmp := match.Comparison{Name: c.Name, Field: string(c.Field)}
		for j, l := range c.Levels {
			level, err := matchLevel(l)
			if err != nil {
				return nil, fmt.Errorf("spec.probabilistic.comparisons[%d].levels[%d]: %w", i, j, err)
			}
			cmp.Levels = append(cmp.Levels, level)
		}
		if len(cmp.Levels) == 0 {
			cmp.Levels = match.DefaultLevels()
		}
		mc.Comparisons = append(mc.Comparisons, cmp)
	}
	return mc, nil
}

func matchLevel(l cdpv1alpha1.ComparisonLevel) (match.Level, error) {
	level := match.Level{Type: match.LevelType(l.Type)}
	switch l.Type {
	case cdpv1alpha1.LevelJaroWinkler:
		if l.Threshold != nil {
			level.Threshold = *l.Threshold
		}
	case cdpv1alpha1.LevelLevenshtein:
		if l.MaxDistance != nil {
			level.MaxDistance = int(*l.MaxDistance)
		}
	case cdpv1alpha1.LevelNumericDifference:
		f, err := strconv.ParseFloat(l.Tolerance, 64)
		if err != nil {
			return match.Level{}, fmt.Errorf("tolerance %q is not a number", l.Tolerance)
		}
		level.Tolerance = f
	case cdpv1alpha1.LevelDateDifference:
		d, err := parseTolerance(l.Tolerance)
		if err != nil {
			return match.Level{}, err
		}
		level.Within = d
	}
	return level, nil
}

// parseTolerance reads a date tolerance: a number of minutes, hours, days or weeks (30d).
func parseTolerance(s string) (time.Duration, error) {
	units := map[byte]time.Duration{'m': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour, 'w': 7 * 24 * time.Hour}
	if len(s) < 2 {
		return 0, fmt.Errorf("tolerance %q is not a duration such as 30d", s)
	}
	unit, ok := units[s[len(s)-1]]
	n, err := strconv.Atoi(s[:len(s)-1])
	if !ok || err != nil || n <= 0 {
		return 0, fmt.Errorf("tolerance %q is not a duration such as 30d (m, h, d or w)", s)
	}
	return time.Duration(n) * unit, nil
}

// ResolveOptions are the parts of a resolution run that come from where it runs.
type ResolveOptions struct {
	RunID  string
	DryRun bool
	Now    func() time.Time
	// Phase, when set, is told how long each phase of the run took (read, resolve, publish):
	// a worker logs them, so that a slow run says where its time went.
	Phase func(name string, took time.Duration)
}

// phase reports the time since *start under name and restarts the count.
func (o ResolveOptions) phase(name string, start *time.Time) {
	now := time.Now()
	if o.Phase != nil {
		o.Phase(name, now.Sub(*start))
	}
	*start = now
}

// Resolve runs one resolution against the store: it reads the live records of every source and
// the published profiles, resolves them, and publishes the new generation atomically (or, for a
// dry run, records only what the run would change). A run ID that already published returns
// that run, so a retried Job does no work twice.
func Resolve(ctx context.Context, st store.Store, cfg *resolve.Config, opts ResolveOptions) (store.ResolutionRun, *resolve.Result, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	run := store.ResolutionRun{
		Namespace: cfg.Namespace, Resolution: cfg.Name, RunID: opts.RunID, DryRun: opts.DryRun, StartedAt: opts.Now(),
	}
	if done, ok, err := finishedRun(ctx, st, run); err != nil || ok {
		return done, nil, err
	}
	state, err := st.ResolutionState(ctx, cfg.Namespace, cfg.Name)
	if err != nil {
		return run, nil, fmt.Errorf("read the published generation: %w", err)
	}
	start := time.Now()
	in, err := loadInput(ctx, st, cfg)
	if err != nil {
		return run, nil, err
	}
	opts.phase("read", &start)
	in.Generation = state.PublishedGeneration + 1
	res, err := resolve.Run(ctx, cfg, in)
	if err != nil {
		return run, nil, err
	}
	opts.phase("resolve", &start)
	summarize(&run, res)
	if opts.DryRun {
		run.Status = store.SyncSucceeded
		run.FinishedAt = opts.Now()
		run.Generation = state.PublishedGeneration
		if err := st.PutResolutionRun(ctx, run); err != nil {
			return run, res, fmt.Errorf("record the dry run: %w", err)
		}
		return run, res, nil
	}
	published, err := publish(ctx, st, run, res, opts.Now)
	if err == nil {
		opts.phase("publish", &start)
	}
	return published, res, err
}

// finishedRun returns the run of this ID when it already succeeded.
func finishedRun(ctx context.Context, st store.Store, run store.ResolutionRun) (store.ResolutionRun, bool, error) {
	runs, err := st.ResolutionRuns(ctx, run.Namespace, run.Resolution, 0)
	if err != nil {
		return run, false, fmt.Errorf("look up run %s: %w", run.RunID, err)
	}
	for _, r := range runs {
		if r.RunID == run.RunID && r.Status == store.SyncSucceeded {
			return r, true, nil
		}
	}
	return run, false, nil
}

func summarize(run *store.ResolutionRun, res *resolve.Result) {
	s := res.Stats
	run.Records, run.Profiles, run.Merges, run.Splits, run.NewProfiles = s.Records, s.Profiles, s.Merges, s.Splits, s.NewProfiles
	for _, v := range res.Ignored {
		run.Ignored = append(run.Ignored, store.IgnoredValue{Type: v.Type, Value: v.Value, Records: v.Records})
	}
	run.Message = fmt.Sprintf("%d records in %d profiles: %d new, %d merged, %d split, %d unchanged; %d deterministic and %d probabilistic links",
		s.Records, s.Profiles, s.NewProfiles, s.Merges, s.Splits, s.Unchanged, s.DeterministicLinks, s.ProbabilisticLinks)
}

// loadInput reads the live records of every source and the published profiles.
func loadInput(ctx context.Context, st store.Store, cfg *resolve.Config) (resolve.Input, error) {
	// Sources are read in name order, and each in key order, so that the records arrive sorted
	// by reference, as the published memberships do.
	sources := make([]string, 0, len(cfg.Sources))
	for _, src := range cfg.Sources {
		sources = append(sources, src.Name)
	}
	slices.Sort(sources)
	// Sources are read at once, up to four: reading is most of a scan's time, the store has
	// several reader connections, and with fewer scans than sources the last one runs alone.
	loader := resolve.NewLoader(cfg)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for _, source := range sources {
		part := loader.Part()
		g.Go(func() error {
			err := st.ScanLiveRecords(gctx, cfg.Namespace, source, func(r *store.LiveRecord) error {
				attrs, err := r.Attributes()
				if err != nil {
					return err
				}
				return part.AddScanned(store.RecordRef{Source: source, Key: r.Key}, r.UpdatedAt, attrs, r.EachIdentifier)
			})
			if err != nil {
				return fmt.Errorf("read the records of DataSource %s: %w", source, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		loader.Input() // stops its goroutines
		return resolve.Input{}, err
	}
	in := loader.Input()
	// The store scans memberships in the records' order: line them up in one pass.
	// ProfileOf is made when the first membership arrives: a first publication needs none, and
	// at ten million records it is 160 MB.
	prev := resolve.Previous{Created: map[string]int64{}, Aliases: map[string]string{}}
	next := 0
	var last store.RecordRef
	err := st.ScanMemberships(ctx, cfg.Namespace, cfg.Name, func(ref store.RecordRef, profileID string) error {
		if prev.ProfileOf == nil {
			prev.ProfileOf = make([]string, len(in.Records))
		}
		if resolve.CompareRefs(ref, last) < 0 {
			return fmt.Errorf("the store returned record %s/%s after %s/%s, out of order", ref.Source, ref.Key, last.Source, last.Key)
		}
		last = ref
		for next < len(in.Records) && resolve.CompareRefs(in.Records[next].Ref, ref) < 0 {
			next++
		}
		if next < len(in.Records) && in.Records[next].Ref == ref {
			prev.ProfileOf[next] = profileID
		}
		return nil
	})
	if err == nil {
		err = st.ScanProfiles(ctx, cfg.Namespace, cfg.Name, func(p store.Profile) error {
			prev.Created[p.ID] = p.CreatedGeneration
			return nil
		})
	}
	if err == nil {
		err = st.ScanAliases(ctx, cfg.Namespace, cfg.Name, func(alias, profileID string) error {
			prev.Aliases[alias] = profileID
			return nil
		})
	}
	if err != nil {
		return in, fmt.Errorf("read the published profiles: %w", err)
	}
	in.Previous = prev
	return in, nil
}

// publish writes the result as the resolution's next generation.
func publish(ctx context.Context, st store.Store, run store.ResolutionRun, res *resolve.Result, now func() time.Time) (store.ResolutionRun, error) {
	w, err := st.BeginPublish(ctx, run)
	if errors.Is(err, store.ErrRunFinished) {
		done, _, err := finishedRun(ctx, st, run)
		return done, err
	}
	if err != nil {
		return run, fmt.Errorf("begin publishing: %w", err)
	}
	fail := func(err error) (store.ResolutionRun, error) {
		failed, abortErr := w.Abort(ctx, err.Error())
		return failed, errors.Join(err, abortErr)
	}
	if err := writeProfiles(ctx, w, res); err != nil {
		return fail(err)
	}
	for alias, id := range res.Aliases {
		if err := w.PutAlias(ctx, alias, id); err != nil {
			return fail(fmt.Errorf("write alias %s: %w", alias, err))
		}
	}
	run.FinishedAt = now()
	run.Status = store.SyncSucceeded
	done, err := w.Commit(ctx, run)
	if err != nil {
		return run, fmt.Errorf("publish: %w", err)
	}
	return done, nil
}

// profileBatch is how many profiles are built at once before the writer takes them.
const profileBatch = 1024

// writeProfiles builds each profile's attributes and identifiers on one goroutine while another
// hands the previous batch to the store: building and writing take about as long, and a
// resolution has two cores to do them on. Batches go back and forth between the two and their
// maps and slices are reused, since the store keeps nothing of a profile it was given: millions
// of profiles would otherwise be millions of maps for the garbage collector.
func writeProfiles(ctx context.Context, w store.ProfileWriter, res *resolve.Result) error {
	g, gctx := errgroup.WithContext(ctx)
	const inFlight = 3
	full := make(chan []store.Profile, inFlight)
	empty := make(chan []store.Profile, inFlight)
	for range inFlight {
		empty <- make([]store.Profile, profileBatch)
	}
	g.Go(func() error {
		defer close(full)
		for start := 0; start < len(res.Profiles); start += profileBatch {
			var batch []store.Profile
			select {
			case batch = <-empty:
			case <-gctx.Done():
				return gctx.Err()
			}
			batch = batch[:min(profileBatch, len(res.Profiles)-start)]
			for k := range batch {
				i := start + k
				p, sp := &res.Profiles[i], &batch[k]
				sp.ID, sp.CreatedGeneration = p.ID, p.CreatedGeneration
				sp.Attributes = res.FillProfileAttributes(i, sp.Attributes)
				sp.Identifiers = res.FillProfileIdentifiers(i, sp.Identifiers)
				sp.Records = sp.Records[:0]
				for _, ri := range p.Records {
					sp.Records = append(sp.Records, res.Records[ri].Ref)
				}
			}
			full <- batch
		}
		return nil
	})
	g.Go(func() error {
		// The writer uses ctx: the store may keep it for writes that finish after the group.
		for batch := range full {
			for i := range batch {
				if err := w.PutProfile(ctx, batch[i]); err != nil {
					return fmt.Errorf("write profile %s: %w", batch[i].ID, err)
				}
			}
			empty <- batch[:cap(batch)]
		}
		return nil
	})
	return g.Wait()
}

// ResolveInMemory resolves the store's current records without publishing or recording
// anything: for explanations.
func ResolveInMemory(ctx context.Context, st store.Store, cfg *resolve.Config) (*resolve.Result, error) {
	state, err := st.ResolutionState(ctx, cfg.Namespace, cfg.Name)
	if err != nil {
		return nil, fmt.Errorf("read the published generation: %w", err)
	}
	in, err := loadInput(ctx, st, cfg)
	if err != nil {
		return nil, err
	}
	in.Generation = state.PublishedGeneration + 1
	return resolve.Run(ctx, cfg, in)
}
