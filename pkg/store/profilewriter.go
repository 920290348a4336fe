package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// errPublishDone is returned by a writer that already committed or aborted.
var errPublishDone = errors.New("the publish has already committed or aborted")

func (s *sqlStore) BeginPublish(ctx context.Context, run ResolutionRun) (ProfileWriter, error) {
	run, err := s.checkResolutionRun(run)
	if err != nil {
		return nil, fmt.Errorf("begin publish: %w", err)
	}
	if run.DryRun {
		return nil, fmt.Errorf("begin publish %s of %s/%s: a dry run publishes nothing: record it with PutResolutionRun",
			run.RunID, run.Namespace, run.Resolution)
	}
	run = ResolutionRun{
		Namespace: run.Namespace, Resolution: run.Resolution, RunID: run.RunID,
		StartedAt: run.StartedAt, Status: SyncRunning,
	}
	sess, err := s.b.session(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin publish %s of %s/%s: %w", run.RunID, run.Namespace, run.Resolution, err)
	}
	w, err := s.beginPublish(ctx, sess, run)
	if err != nil {
		sess.release()
		return nil, fmt.Errorf("begin publish %s of %s/%s: %w", run.RunID, run.Namespace, run.Resolution, err)
	}
	return w, nil
}

func (s *sqlStore) beginPublish(ctx context.Context, sess session, run ResolutionRun) (*profileWriter, error) {
	if err := sess.begin(ctx, resolutionLock(run.Namespace, run.Resolution)); err != nil {
		return nil, err
	}
	finished, err := s.resolutionRunFinished(ctx, sess, run)
	if err == nil && finished {
		err = ErrRunFinished
	}
	// The published generation's size is the best guess of the next one's.
	var published, profiles, records, aliases int64
	if err == nil {
		err = queryRowOn(ctx, sess, s.pq.publishedRows, []any{run.Namespace, run.Resolution},
			&published, &profiles, &records, &aliases)
		if err != nil {
			err = fmt.Errorf("read the published generation: %w", err)
		}
	}
	if err != nil {
		return nil, errors.Join(err, sess.rollback(ctx))
	}
	run.Generation = published + 1
	w := &profileWriter{s: s, sess: sess, run: run, slot: slotOf(run.Generation), pipe: newPipeline()}
	w.shared = [3]any{run.Namespace, run.Resolution, w.slot}
	w.profiles = newTableWriter(w, s.slots.profiles, profiles)
	w.memberships = newTableWriter(w, s.slots.memberships, records)
	w.aliases = newTableWriter(w, s.slots.aliases, aliases)
	return w, nil
}

// profileWriter writes one generation inside one transaction, into the slot of the generation
// before the previous one (see slotOf): each table's rows go through a tableWriter, which writes
// only what differs from what the slot holds. Readers read the other slot until Commit switches
// the published generation. Writes run on a goroutine of their own (the pipeline), one batch at
// a time, while the caller goes on.
type profileWriter struct {
	s    *sqlStore
	sess session
	run  ResolutionRun
	slot int64
	// shared are the first three columns of every row: namespace, resolution, slot.
	shared [3]any

	// err is the first failure that leaves the transaction unusable; only Abort can follow.
	err  error
	done bool
	// pipe writes batches on a goroutine of its own.
	pipe *pipeline

	profiles, memberships, aliases *tableWriter
	newProfiles                    int64

	refs      []RecordRef
	value     []byte
	encoded   []byte
	recordBuf []byte
	// keys, hashes and filtered are the membership keys of the profile being put.
	keys     []byte
	hashes   []uint64
	filtered []bool
}

func (w *profileWriter) usable() error {
	if w.done {
		return errPublishDone
	}
	return w.err
}

func (w *profileWriter) fail(err error) error {
	if w.err == nil {
		w.err = err
	}
	return err
}

// wait waits until every batch handed to the pipeline is written: the session's connection
// serves one statement at a time.
func (w *profileWriter) wait() error {
	if err := w.pipe.wait(); err != nil {
		return w.fail(err)
	}
	return w.err
}

func (w *profileWriter) PutProfile(ctx context.Context, p Profile) error {
	if err := w.usable(); err != nil {
		return err
	}
	if err := checkKey("profile ID", p.ID); err != nil {
		return err
	}
	created := p.CreatedGeneration
	if created == 0 {
		created = w.run.Generation
	}
	if created < 0 || created > w.run.Generation {
		return fmt.Errorf("profile %q: %w: created generation %d is not one of 1 to %d", p.ID, ErrInvalidRow,
			p.CreatedGeneration, w.run.Generation)
	}
	w.refs = append(w.refs[:0], p.Records...)
	refs := w.refs
	slices.SortFunc(refs, compareRecordRefs)
	for i, r := range refs {
		if err := checkKey("record source", r.Source); err != nil {
			return fmt.Errorf("profile %q: %w", p.ID, err)
		}
		if err := checkKey("record key", r.Key); err != nil {
			return fmt.Errorf("profile %q: %w", p.ID, err)
		}
		if i > 0 && r == refs[i-1] {
			return fmt.Errorf("profile %q: record %s/%s listed twice: %w", p.ID, r.Source, r.Key, ErrDuplicateKey)
		}
	}
	var err error
	buf := w.encoded[:0]
	if buf, err = encodeIdentifiers(buf, p.Identifiers); err != nil {
		return fmt.Errorf("profile %q: %w", p.ID, err)
	}
	split := len(buf)
	if buf, err = encodeValues(buf, p.Attributes); err != nil {
		return fmt.Errorf("profile %q: attribute %w", p.ID, err)
	}
	w.encoded = buf
	w.recordBuf = encodeRecordRefs(w.recordBuf[:0], refs)
	w.value = appendProfileValue(w.value[:0], created, buf[:split], buf[split:], w.recordBuf)

	id := []byte(p.ID)
	idHash := w.profiles.hash(id)
	idFiltered, err := w.checkNew(ctx, id, idHash, "profile ID", w.profiles, w.aliases)
	if err != nil {
		return fmt.Errorf("profile %q: %w", p.ID, err)
	}
	w.keys, w.hashes, w.filtered = w.keys[:0], w.hashes[:0], w.filtered[:0]
	for _, r := range refs {
		start := len(w.keys)
		w.keys = appendRecordRefKey(w.keys, r)
		key := w.keys[start:]
		h := w.memberships.hash(key)
		filtered, err := w.checkNew(ctx, key, h, "record", w.memberships)
		if err != nil {
			return fmt.Errorf("profile %q: record %s/%s: %w", p.ID, r.Source, r.Key, err)
		}
		w.hashes, w.filtered = append(w.hashes, h), append(w.filtered, filtered)
	}

	if err := w.profiles.add(ctx, id, w.value, idHash, idFiltered); err != nil {
		return err
	}
	start := 0
	for i, r := range refs {
		end := start + len(r.Source) + 1 + len(r.Key)
		if err := w.memberships.add(ctx, w.keys[start:end], id, w.hashes[i], w.filtered[i]); err != nil {
			return err
		}
		start = end
	}
	if created == w.run.Generation {
		w.newProfiles++
	}
	return nil
}

// checkNew returns ErrDuplicateKey when one of the tables already has key, of hash h in the
// first table. It reports whether the first table's filter holds h now.
func (w *profileWriter) checkNew(ctx context.Context, key []byte, h uint64, what string, tables ...*tableWriter) (filtered bool, err error) {
	for i, tw := range tables {
		if i > 0 {
			h = tw.hash(key)
		}
		found, inFilter, err := tw.has(ctx, key, h)
		if err != nil {
			return false, err
		}
		if i == 0 {
			filtered = inFilter
		}
		if found {
			if tw == w.memberships {
				return false, fmt.Errorf("%w: the record is in another profile of this publish", ErrDuplicateKey)
			}
			return false, fmt.Errorf("%w: %s already written in this publish, as a profile or an alias", ErrDuplicateKey, what)
		}
	}
	return filtered, nil
}

func (w *profileWriter) PutAlias(ctx context.Context, alias, profileID string) error {
	if err := w.usable(); err != nil {
		return err
	}
	if err := checkKey("alias", alias); err != nil {
		return err
	}
	if err := checkKey("profile ID", profileID); err != nil {
		return fmt.Errorf("alias %q: %w", alias, err)
	}
	if alias == profileID {
		return fmt.Errorf("alias %q: %w: a profile cannot be its own alias", alias, ErrInvalidRow)
	}
	key := []byte(alias)
	h := w.aliases.hash(key)
	filtered, err := w.checkNew(ctx, key, h, "alias", w.aliases, w.profiles)
	if err != nil {
		return fmt.Errorf("alias %q: %w", alias, err)
	}
	return w.aliases.add(ctx, key, []byte(profileID), h, filtered)
}

func (w *profileWriter) Commit(ctx context.Context, run ResolutionRun) (ResolutionRun, error) {
	if err := w.usable(); err != nil {
		return ResolutionRun{}, fmt.Errorf("commit publish %s: %w", w.run.RunID, err)
	}
	done, err := w.commit(ctx, run)
	w.closeTables()
	if err != nil {
		// The transaction is gone; Abort can still record the failure, in a transaction of its own.
		_ = w.wait()
		w.err = errors.Join(err, w.sess.rollback(ctx))
		w.sess.release()
		w.sess = nil
		return ResolutionRun{}, fmt.Errorf("commit publish %s of %s/%s: %w", w.run.RunID, w.run.Namespace, w.run.Resolution, err)
	}
	w.done = true
	if w.s.d.analyzeAfterLoad != "" && w.profiles.rows >= analyzeRowsThreshold {
		// Segments read the profiles next: see analyzeAfterLoad.
		_, _ = w.sess.exec(ctx, fmt.Sprintf(w.s.d.analyzeAfterLoad, "profiles"))
	}
	w.sess.release()
	return done, nil
}

func (w *profileWriter) commit(ctx context.Context, in ResolutionRun) (ResolutionRun, error) {
	for _, tw := range []*tableWriter{w.profiles, w.memberships, w.aliases} {
		if err := tw.finish(ctx); err != nil {
			return ResolutionRun{}, err
		}
	}
	if err := w.wait(); err != nil {
		return ResolutionRun{}, err
	}
	s, q := w.s, w.sess
	run := w.run
	now := s.now()
	run.Status = SyncSucceeded
	run.FinishedAt = now
	run.Records, run.Profiles, run.NewProfiles = w.memberships.rows, w.profiles.rows, w.newProfiles
	run.Merges, run.Splits = in.Merges, in.Splits
	run.Ignored = keptIgnored(in.Ignored)
	run.Message = diagnosticText(in.Message, maxMessageBytes)
	if _, err := q.exec(ctx, s.pq.putState, run.Namespace, run.Resolution, run.Generation, s.d.timeArg(now), run.RunID,
		run.Profiles, run.Records, w.aliases.rows); err != nil {
		return ResolutionRun{}, fmt.Errorf("publish the generation: %w", err)
	}
	if err := s.writeResolutionRun(ctx, q, run); err != nil {
		return ResolutionRun{}, err
	}
	if err := q.commit(ctx); err != nil {
		return ResolutionRun{}, fmt.Errorf("commit: %w", err)
	}
	return run, nil
}

// keptIgnored is what the store keeps of a run's ignored values.
func keptIgnored(in []IgnoredValue) []IgnoredValue {
	var out []IgnoredValue
	for _, v := range in[:min(len(in), MaxIgnoredValuesPerRun)] {
		out = append(out, IgnoredValue{
			Type: diagnosticText(v.Type, maxIgnoredValueBytes), Value: diagnosticText(v.Value, maxIgnoredValueBytes),
			Records: v.Records,
		})
	}
	return out
}

// closeTables stops what the tables read and sort, and the pipeline.
func (w *profileWriter) closeTables() {
	for _, tw := range []*tableWriter{w.profiles, w.memberships, w.aliases} {
		tw.close()
	}
	_ = w.pipe.wait()
	w.pipe.close()
}

func (w *profileWriter) Abort(ctx context.Context, message string) (ResolutionRun, error) {
	if w.done {
		return ResolutionRun{}, fmt.Errorf("abort publish %s: %w", w.run.RunID, errPublishDone)
	}
	w.done = true
	w.closeTables()
	run, err := w.abort(ctx, message)
	if w.sess != nil {
		w.sess.release()
	}
	if err != nil {
		return run, fmt.Errorf("abort publish %s of %s/%s: %w", w.run.RunID, w.run.Namespace, w.run.Resolution, err)
	}
	return run, nil
}

func (w *profileWriter) abort(ctx context.Context, message string) (ResolutionRun, error) {
	// Roll back, then record the run in a transaction of its own: this works whatever state the
	// publish's transaction was left in.
	_ = w.wait() // the batch's own failure, if any, is not what ends the publish
	if w.sess != nil {
		if err := w.sess.rollback(ctx); err != nil {
			w.sess.release()
			w.sess = nil
		}
	}
	if w.sess == nil {
		sess, err := w.s.b.session(ctx)
		if err != nil {
			return ResolutionRun{}, err
		}
		w.sess = sess
	}
	run := w.run
	run.Status = SyncFailed
	run.FinishedAt = w.s.now()
	run.Message = diagnosticText(message, maxMessageBytes)
	// A duplicate of this Job may have published meanwhile: its result stands.
	if err := w.s.putResolutionRunIn(ctx, w.sess, run); err != nil {
		return ResolutionRun{}, err
	}
	return run, nil
}
