package server

import "time"

// Limits bound what one service's connections may cost. A zero field takes
// the default noted beside it; a negative one means no limit where that makes
// sense (MaxConns, MaxConnsPerIP, IdleTimeout).
type Limits struct {
	MaxConns      int           // open connections; default 10,000
	MaxConnsPerIP int           // open connections from one remote IP; default none
	IdleTimeout   time.Duration // no input and no output progress; default 5 min
	MaxInput      int           // unconsumed input; default 64 KiB
	MaxQueue      int           // queued output before a slow consumer is closed; default 4 MiB
	HighWater     int           // queued output above which reading pauses; default 256 KiB
	DrainTimeout  time.Duration // graceful shutdown bound; default 10 s
}

// Defaults used for zero fields.
const (
	DefaultMaxConns     = 10000
	DefaultIdleTimeout  = 5 * time.Minute
	DefaultMaxInput     = 64 << 10
	DefaultMaxQueue     = 4 << 20
	DefaultHighWater    = 256 << 10
	DefaultDrainTimeout = 10 * time.Second
)

func (l Limits) withDefaults() Limits {
	if l.MaxConns == 0 {
		l.MaxConns = DefaultMaxConns
	}
	if l.IdleTimeout == 0 {
		l.IdleTimeout = DefaultIdleTimeout
	}
	if l.MaxInput <= 0 {
		l.MaxInput = DefaultMaxInput
	}
	if l.MaxQueue <= 0 {
		l.MaxQueue = DefaultMaxQueue
	}
	if l.HighWater <= 0 {
		l.HighWater = DefaultHighWater
	}
	if l.HighWater > l.MaxQueue {
		l.HighWater = l.MaxQueue
	}
	if l.DrainTimeout <= 0 {
		l.DrainTimeout = DefaultDrainTimeout
	}
	return l
}

// LowWater is the queued-output level below which a paused connection
// resumes reading: half the high-water mark, so a connection does not flap
// between paused and reading on every write.
func (l Limits) LowWater() int { return l.HighWater / 2 }
