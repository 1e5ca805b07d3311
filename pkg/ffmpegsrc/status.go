package ffmpegsrc

import "time"

// State is where a task's supervisor is.
type State string

// States, as listFFmpegSource and /metrics name them.
const (
	StateStarting State = "starting" // launching ffmpeg
	StateRunning  State = "running"  // ffmpeg is running
	StateBackoff  State = "backoff"  // ffmpeg ended; waiting to start it again
	StateStopped  State = "stopped"  // the task ended (deleted, timed out, closed)
)

// States lists every state, in lifecycle order.
var States = []State{StateStarting, StateRunning, StateBackoff, StateStopped}

// Status is a task's supervisor state, published as an immutable snapshot
// by the supervisor.
type Status struct {
	State State
	// PID is ffmpeg's process id while it runs, else 0.
	PID int
	// Since is when the running ffmpeg started (zero when none runs).
	Since time.Time
	// Restarts counts starts of ffmpeg after the first.
	Restarts int
	// LastExit says why ffmpeg last ended ("exit status 1", "signal:
	// killed", "restart_sec elapsed", "start: ..."); empty before.
	LastExit string
}

// Info describes one task for listFFmpegSource.
type Info struct {
	Key string
	Spec
	// Cmd is the command line run, quoted for reading.
	Cmd string
	Status
	// Uptime is how long the running ffmpeg has run.
	Uptime time.Duration
	// Stderr is the tail of ffmpeg's stderr (DefaultTailBytes at most).
	Stderr string
}

// Counts sums the tasks for /metrics.
type Counts struct {
	ByState map[State]int
	// Restarts counts every restart of every task since the manager was
	// made, including tasks that are gone (a counter).
	Restarts int64
}
