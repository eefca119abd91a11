package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// The parallel kernels run on a team of long-lived worker goroutines. A
// training step calls some thirty kernels in a row, each a few to a few
// hundred microseconds long, so handing out the parts of one must cost far
// less than waking a parked goroutine (several microseconds): a waiting
// goroutine first spins on an atomic for a while, and blocks only when that
// was not enough, as when another process holds the core its partner needs,
// so that a shared or oversubscribed machine loses little to spinning.
//
// One job runs on the team at a time; a job started while the team is busy
// (from another goroutine) runs on its caller alone. Every job computes the
// same bits whatever its number of parts, so that costs time, never results.

// parallelJob is work split into parts.
type parallelJob interface {
	// run computes part w of the n parts; bar synchronises the n parts.
	run(w, n int, bar *barrier)
}

// Spinning budgets: a part waiting at a barrier or for the others to finish
// spins about syncSpin, longer than the imbalance of a well-split kernel;
// an idle worker spins about idleSpin for its next job, longer than the
// serial stretches between the kernels of a training step.
const (
	syncSpin = 1 * time.Millisecond
	idleSpin = 2 * time.Millisecond
)

var team struct {
	mu      sync.Mutex // held while the team runs a job
	workers []*worker  // workers[i] computes part i+1
	pending atomic.Int32
	joined  gate // opened when pending reaches 0
	bar     barrier
}

// Worker states.
const (
	workerIdle int32 = iota
	workerReady
	workerParked
)

type worker struct {
	state atomic.Int32
	job   parallelJob
	part  int
	parts int
	wake  chan struct{}
	_     [64]byte // keeps each worker's state on its own cache line
}

// parallel runs job in n parts, on the caller and n−1 workers, and returns
// when all are done. It allocates nothing once the workers exist.
func parallel(job parallelJob, n int) {
	if n <= 1 || !team.mu.TryLock() {
		job.run(0, 1, &soloBarrier)
		return
	}
	startWorkers(n - 1)
	team.bar.reset(n)
	team.pending.Store(int32(n - 1))
	for i, w := range team.workers[:n-1] {
		w.job, w.part, w.parts = job, i+1, n
		if w.state.Swap(workerReady) == workerParked {
			w.wake <- struct{}{}
		}
	}
	job.run(0, n, &team.bar)
	team.joined.wait(func() bool { return team.pending.Load() == 0 })
	team.mu.Unlock()
}

// soloBarrier is the barrier of a job run in one part: waiting returns at
// once.
var soloBarrier = barrier{n: 1}

func startWorkers(n int) {
	for len(team.workers) < n {
		w := &worker{wake: make(chan struct{}, 1)}
		team.workers = append(team.workers, w)
		go w.loop()
	}
}

func (w *worker) loop() {
	for {
		if !spin(func() bool { return w.state.Load() == workerReady }, idleSpin) &&
			w.state.CompareAndSwap(workerIdle, workerParked) {
			<-w.wake
		}
		if w.state.Load() != workerReady {
			continue
		}
		w.job.run(w.part, w.parts, &team.bar)
		w.job = nil
		w.state.Store(workerIdle)
		if team.pending.Add(-1) == 0 {
			team.joined.open()
		}
	}
}

// barrier holds each of n parts of a job until all have reached it.
type barrier struct {
	n       int32
	arrived atomic.Int32
	phase   atomic.Uint32
	passed  gate // opened when the phase moves on
}

func (b *barrier) reset(n int) {
	b.n = int32(n)
	b.arrived.Store(0)
}

// wait returns once all n parts have called it (the same number of times).
func (b *barrier) wait() {
	if b.n <= 1 {
		return
	}
	phase := b.phase.Load()
	if b.arrived.Add(1) == b.n {
		b.arrived.Store(0)
		b.phase.Add(1)
		b.passed.open()
		return
	}
	b.passed.wait(func() bool { return b.phase.Load() != phase })
}

// gate lets goroutines wait for a condition that another makes true and
// then announces with open: they spin for syncSpin, then block.
type gate struct {
	mu       sync.Mutex
	cond     *sync.Cond
	sleepers atomic.Int32
}

// wait returns once done reports true.
func (g *gate) wait(done func() bool) {
	if spin(done, syncSpin) {
		return
	}
	g.mu.Lock()
	if g.cond == nil {
		g.cond = sync.NewCond(&g.mu)
	}
	// Counting itself before it checks done, and open checking the count
	// after the condition became true, no waiter can miss its wake-up.
	g.sleepers.Add(1)
	for !done() {
		g.cond.Wait()
	}
	g.sleepers.Add(-1)
	g.mu.Unlock()
}

// open wakes the goroutines that wait has blocked; call it after making
// their condition true.
func (g *gate) open() {
	if g.sleepers.Load() == 0 {
		return
	}
	g.mu.Lock()
	if g.cond != nil {
		g.cond.Broadcast()
	}
	g.mu.Unlock()
}

// spin polls done for about budget and reports whether it became true,
// yielding the processor now and then so that a team larger than GOMAXPROCS,
// or the garbage collector, gets to run.
func spin(done func() bool, budget time.Duration) bool {
	start := time.Now()
	for i := 1; ; i++ {
		if done() {
			return true
		}
		if i%1024 == 0 {
			if time.Since(start) > budget {
				return false
			}
			runtime.Gosched()
		}
	}
}

// queue hands out the items of a job's successive phases to whichever part
// asks first, so that a part whose thread the OS has put aside for a while
// (milliseconds at a time on a shared machine) leaves the rest of its
// share to the others instead of holding them up. Items are numbered on
// across phases; the parts of a job walk the same phases and so agree on
// each phase's range. Which part computes an item never changes its bits.
type queue struct {
	next atomic.Int64
	_    [56]byte // a cache line of its own
}

// take returns the next run of at most chunk items below end, or ok false
// when none is left.
func (q *queue) take(end, chunk int) (lo, hi int, ok bool) {
	for {
		cur := int(q.next.Load())
		if cur >= end {
			return 0, 0, false
		}
		hi := min(cur+chunk, end)
		if q.next.CompareAndSwap(int64(cur), int64(hi)) {
			return cur, hi, true
		}
	}
}

// chunkOf returns how many of total items a part takes at a time: all of
// them alone, else small runs, so that the last ones to finish end close
// together.
func chunkOf(total, parts int) int {
	if parts <= 1 {
		return max(total, 1)
	}
	return max(1, total/(8*parts))
}
