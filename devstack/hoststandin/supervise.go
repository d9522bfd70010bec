package hoststandin

import (
	"context"
	"errors"
	"os/exec"
	"time"
)

// How the Functions host restarts a custom handler (Azure/azure-functions-host, src/WebJobs.Script/Workers):
//   - WorkerProcess.OnProcessExited: exit code 0 (WorkerConstants.SuccessExitCode) only closes the process —
//     no restart; exit code 200 (IntentionalRestartExitCode) publishes HttpWorkerRestartEvent — a restart
//     that is not counted; any other exit publishes HttpWorkerErrorEvent (HttpWorkerProcess.
//     HandleWorkerProcessExitError). A restarted handler that does not answer in time is an error event too
//     (HttpWorkerChannel.DelayUntilWokerInitialized).
//   - Http/HttpFunctionInvocationDispatcher: an error event is pushed on _invokerErrors (AddOrUpdateErrorBucket
//     empties it first when the previous error is more than WorkerRestartErrorIntervalThresholdInMinutes = 30
//     minutes old); RestartWorkerChannel starts a new handler at once — no back-off — while fewer than
//     ErrorEventsThreshold = 3 errors are in the bucket, else logs "Exceeded http worker restart retry
//     count. Shutting down Functions Host" and calls StopApplication.
//   - Description/Workers/WorkerFunctionInvoker: an invocation that arrives while the handler restarts waits
//     until the dispatcher is initialized again, for at most (ErrorEventsThreshold + 1) × the worker
//     initialization timeout, and then goes ahead.
const (
	errorEventsThreshold       = 3
	restartErrorWindow         = 30 * time.Minute
	successExitCode            = 0
	intentionalRestartExitCode = 200
)

// errGaveUp: the handler crashed errorEventsThreshold times in a row and the host shut down.
var errGaveUp = errors.New("the handler crashed too often; the host stopped restarting it")

// supervise restarts the handler when it exits, as the Functions host does (see the constants above). It
// returns when h.ctx is done, when the handler exited with code 0, or when it gave up.
func (h *Host) supervise(w *worker) {
	defer close(h.supervising)
	for {
		select {
		case <-w.done:
		case <-h.ctx.Done():
			return
		}
		if h.ctx.Err() != nil {
			return
		}
		switch code := exitCode(w.exitErr); code {
		case successExitCode:
			// The host does not restart it: calls fail with 500 until the app restarts.
			h.log.Printf("handler pid %d exited with code 0; the host does not restart it", w.cmd.Process.Pid)
			return
		case intentionalRestartExitCode:
			h.log.Printf("handler pid %d exited with code %d and needs to be restarted", w.cmd.Process.Pid, code)
		default:
			if h.recordFailure() >= errorEventsThreshold {
				h.giveUp()
				return
			}
		}
		var ok bool
		if w, ok = h.restart(); !ok {
			return
		}
	}
}

// restart starts handlers until one is ready; false when h.ctx ended or the host gave up.
func (h *Host) restart() (*worker, bool) {
	for {
		h.mu.Lock()
		select {
		case <-h.ready:
			h.ready = make(chan struct{}) // calls wait from now on
		default:
		}
		h.mu.Unlock()
		h.log.Printf("restarting the handler")
		w, err := h.startWorker()
		if err == nil {
			err = h.waitReady(h.ctx, w, h.timeout)
		}
		if h.ctx.Err() != nil {
			return nil, false // Close stops the current handler
		}
		if err == nil {
			h.mu.Lock()
			close(h.ready)
			h.mu.Unlock()
			return w, true
		}
		h.log.Printf("restarted handler did not come up: %v", err)
		if w != nil {
			_ = h.kill(w)
		}
		if h.recordFailure() >= errorEventsThreshold {
			h.giveUp()
			return nil, false
		}
	}
}

// recordFailure adds an error event to the bucket and returns how many it holds
// (HttpFunctionInvocationDispatcher.AddOrUpdateErrorBucket).
func (h *Host) recordFailure() int {
	now := h.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if n := len(h.failures); n > 0 && now.Sub(h.failures[n-1]) > restartErrorWindow {
		h.failures = h.failures[:0]
	}
	h.failures = append(h.failures, now)
	return len(h.failures)
}

func (h *Host) giveUp() {
	h.log.Printf("Exceeded http worker restart retry count. Shutting down Functions Host")
	h.mu.Lock()
	defer h.mu.Unlock()
	close(h.gaveUp)
}

func (h *Host) stopped() bool {
	select {
	case <-h.gaveUp:
		return true
	default:
		return false
	}
}

// awaitHandler waits until the handler is ready to be called, at most (ErrorEventsThreshold + 1) ×
// InitializationTimeout (WorkerFunctionInvoker's wait); it returns errGaveUp once the host gave up, and nil
// when the handler is ready or the wait is over (the call then goes ahead and fails like the host's).
func (h *Host) awaitHandler(ctx context.Context) error {
	h.mu.Lock()
	ready := h.ready
	h.mu.Unlock()
	select {
	case <-ready:
		return nil
	default:
	}
	timer := time.NewTimer((errorEventsThreshold + 1) * h.timeout)
	defer timer.Stop()
	select {
	case <-ready:
		return nil
	case <-h.gaveUp:
		return errGaveUp
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// exitCode is the process exit code; a handler killed by a signal counts as a crash (-1 here, 128+n in
// .NET's Process.ExitCode).
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}
