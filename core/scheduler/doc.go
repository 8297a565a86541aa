// Package scheduler decides which workers serve which sessions in the queue
// manager (docs/design.md, Scheduling). The caller reports events (sessions added, updated,
// removed, their pending work and idleness; workers added, removed, idle,
// draining) and applies, in order, the Bind and Unbind decisions each event
// returns. New(name, Options) picks one of three policies by the scheduler
// config value, each with preemption on or off (the preemption config key);
// each sits in its own file behind one internal interface, policy.
//
//	policy      next free worker goes to                       preemption takes from
//	priority    the highest priority; within it the session    the lowest priority that has a donor
//	            with the fewest workers, then the older one    (its donor with the most workers)
//	fairshare   the smallest (have+1)/(priority+1) (D'Hondt),  the donor with the largest have/weight,
//	            ties to the higher priority, then the older    while have(v)/w(v) > (have(s)+1)/w(s)
//	roundrobin  the fewest workers, then the least recently    the donor with the most workers,
//	            served; priority ignored                       while have(v) > have(s)+1
//
// have counts a session's bound workers and those reserved for it (below).
// A donor is a preemptible session of strictly lower priority than the
// taker that has more bound workers than its min_workers.
//
// # Rules
//
// They hold after every call; the tests check each for every policy with
// preemption on and off, and after every step of a random run.
//
//   - Demand. A session wants its busy workers plus one per waiting task
//     (queued, or unstarted in a worker's in-flight window: SetWork), at
//     least min_workers, at most max_workers, and none while idle or with
//     no waiting task. Workers are bound only to sessions below their
//     target: never to a session with nothing waiting, and not more than
//     it can use. A session whose backlog shrinks keeps the workers it has.
//   - Drained. While a session that wants workers has none and no worker
//     is free, every session with no work at all (nothing waiting,
//     nothing running) gives its workers up (ReasonDrained), whatever the
//     priorities; they go to the wanting sessions in policy order, and a
//     drained session asks again with its next task. Handing over only to
//     a starving session keeps workers from shuttling between sessions
//     whose queues empty and fill in turn.
//   - max_workers is hard: bound workers never exceed it, not even
//     transiently; lowering it unbinds the surplus (ReasonMaxWorkers).
//   - min_workers is a reservation honoured while the session has work:
//     sessions below their min get workers before every other session,
//     among themselves in policy order, and preemption never takes a
//     session below its min.
//   - Idle sessions (SetIdle) have every worker unbound (ReasonIdle) and get
//     none; removed sessions likewise (ReasonClosed).
//   - No idle capacity: while any session wants workers, no worker is free
//     and no unbinding worker is left unpromised; while one has none, no
//     drained session holds one.
//   - Preemption, only when on: a wanting session takes bound workers from
//     donors as its policy allows (table above), one at a time, until no
//     wanting session may take one. A session below its min takes from the
//     chosen donor regardless of the proportion. With preemption off a
//     session loses workers only by going idle, being removed or having
//     max_workers lowered.
//
// # Worker states
//
//	from        event                 to
//	(none)      AddWorker             idle
//	idle        Bind decision         bound
//	bound       Unbind decision       unbinding, reserved for the session it was
//	                                  preempted for, else for nobody
//	unbinding   WorkerIdle            bound to the session it was reserved for
//	                                  (a Bind decision), else idle
//	bound       WorkerIdle            idle: the worker left on its own
//	idle, bound WorkerDraining        draining: no decision, the worker is leaving
//	draining    WorkerIdle            idle
//	any         RemoveWorker          gone; its session may get another worker
//
// An unbinding worker finishes its in-flight batches, whose results are
// delivered as usual, so preemption loses nothing; until the caller reports
// it idle the scheduler binds it to nothing. Wanting sessions reserve
// unbinding workers before preempting more, so preemption takes no more
// workers than the takers' targets, and an idle session or lowered demand
// gives its reservations back.
//
// # Time and cost
//
// The scheduler has no clock and no periodic pass: every call leaves the
// rules above satisfied, so a pass every schedulerInterval would find
// nothing to do. The queue manager's tick is where it checks idle_timeout
// and calls SetIdle.
//
// Nothing scans all sessions or workers. Free and unbinding workers are
// stacks; wanting sessions sit in binary heaps per tier (below min or not)
// and priority, donors in a max-heap per priority, with bit masks of the
// non-empty heaps; priorities are 0-10, so a policy's choice looks at 11
// heap tops. A call costs O(levels) plus O(levels + log sessions) per
// worker it binds, unbinds or reserves, plus the preemption check of the
// heaps the call touched (at most 20, each against at most 10 donor tops).
// BenchmarkSchedule, 10000 sessions and 10000 workers, random events, on
// a 2-core Xeon (GOMAXPROCS=2), ns per event (decisions per event):
//
//	policy      preemption off   preemption on
//	priority    260-590 (0.71)   370-1130 (0.92)
//	fairshare   360-860 (0.58)   380-1760 (0.82)
//	roundrobin  340-1160 (0.50)  520-1270 (0.65)
//
// An event that moves many workers at once costs 0.2-0.4 µs per worker
// moved: a session holding all 10000 workers going idle, its workers then
// promised one each to 10000 waiting sessions, took 2-4 ms.
package scheduler
