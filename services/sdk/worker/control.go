package worker

import (
	"context"
	"errors"
	"io"
	"time"

	"google.golang.org/grpc/metadata"

	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
)

// control runs one registration: the WorkerUpdate stream and the bindings it
// orders. It returns when ctx ended and the drain finished (nil), or when
// the stream broke; registered reports whether a worker id was obtained.
func (w *Worker) control(ctx context.Context, api pb.QueueClient, jobs chan<- job) (registered bool, err error) {
	// The stream outlives ctx so that the drain can report DRAINING and
	// finish its bindings.
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stream, err := api.WorkerUpdate(metadata.AppendToOutgoingContext(cctx, "node", w.cfg.node, "pod", w.cfg.pod))
	if err != nil {
		return false, err
	}
	hdr, err := stream.Header()
	if err != nil {
		return false, err
	}
	ids := hdr.Get("workerid")
	if len(ids) == 0 || ids[0] == "" {
		// A call refused before it started (a bad API key) has no
		// header; its status comes from Recv.
		if _, err := stream.Recv(); err != nil && !errors.Is(err, io.EOF) {
			return false, err
		}
		return false, errors.New("worker: no workerid in the response header")
	}
	id := ids[0]
	log := w.cfg.log.With("worker", id)
	log.Info("worker: registered", "node", w.cfg.node, "pod", w.cfg.pod)

	instr := make(chan *pb.Instruction)
	recvErr := make(chan error, 1)
	go func() {
		for {
			in, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case instr <- in:
			case <-cctx.Done():
				return
			}
		}
	}()

	st := &pb.WorkerState{WorkerId: id, State: pb.WorkerState_IDLE}
	report := func(state State, sessionID string) error {
		st.State, st.SessionId = state, sessionID
		if w.cfg.onState != nil {
			w.cfg.onState(Event{WorkerID: id, State: state, SessionID: sessionID})
		}
		return stream.Send(st)
	}
	if err := report(StateIdle, ""); err != nil {
		return true, err
	}

	var cur *binding // the binding of the last BIND, until it ends or is told to
	ending := 0      // bindings finishing after UNBIND, a newer BIND or the drain
	ended := make(chan *binding)
	// waitBindings waits until no binding goroutine is left.
	waitBindings := func() {
		for cur != nil || ending > 0 {
			if b := <-ended; b == cur {
				cur = nil
			} else {
				ending--
			}
		}
	}
	defer func() {
		cancel()
		waitBindings()
	}()
	stop := func(drain bool) {
		if cur != nil {
			go cur.stop(drain) // it may wait for a result send; never block heartbeats
			cur, ending = nil, ending+1
		}
	}

	tick := time.NewTicker(w.cfg.heartbeat)
	defer tick.Stop()
	done := ctx.Done()
	draining := false
	for {
		if draining && cur == nil && ending == 0 {
			// Half-close and let the queue manager end the stream, so it
			// sees a clean goodbye rather than a reset.
			_ = stream.CloseSend()
			bye := time.NewTimer(w.cfg.heartbeat)
			defer bye.Stop()
			for {
				select {
				case <-instr: // a BIND racing the drain: ignored
					continue
				case <-recvErr:
				case <-bye.C:
				}
				log.Info("worker: drained")
				return true, nil
			}
		}
		var err error
		select {
		case <-done:
			done, draining = nil, true
			log.Info("worker: draining")
			stop(true)
			err = report(StateDraining, st.SessionId)
		case in := <-instr:
			switch in.Type {
			case pb.Instruction_BIND:
				if draining {
					continue
				}
				stop(false)
				log.Info("worker: bound", "session", in.SessionId)
				cur = w.bind(cctx, api, id, in.SessionId, jobs, ended)
				err = report(StateBound, in.SessionId)
			case pb.Instruction_UNBIND:
				if cur != nil && cur.sessionID == in.SessionId {
					log.Info("worker: unbinding", "session", in.SessionId)
					stop(false)
				}
			}
		case b := <-ended:
			if b == cur {
				cur = nil
				log.Info("worker: binding ended", "session", b.sessionID, "err", b.err)
			} else {
				ending--
			}
			if cur == nil && !draining && st.State != pb.WorkerState_IDLE {
				err = report(StateIdle, "")
			}
		case <-tick.C:
			err = stream.Send(st)
		case err = <-recvErr:
		}
		if err != nil {
			return true, err
		}
	}
}
