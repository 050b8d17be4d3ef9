package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// clockTick is the unit of utime and stime in /proc/PID/stat (USER_HZ, 100
// on every Linux architecture Go runs on).
const clockTick = 10 * time.Millisecond

// procCPU returns the user and system CPU time of pid and its descendants,
// including children already reaped (cutime, cstime), so servers that fork
// a process per connection are measured too.
func procCPU(pid int) (user, sys time.Duration, err error) {
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
		return 0, 0, fmt.Errorf("server pid %d: %w", pid, err)
	}
	stats := map[int][]string{}
	children := map[int][]int{}
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err != nil {
			continue // gone meanwhile
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 15 {
			continue
		}
		p, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		pp, _ := strconv.Atoi(f[1])
		stats[p] = f
		children[pp] = append(children[pp], p)
	}
	if stats[pid] == nil {
		return 0, 0, fmt.Errorf("server pid %d: no such process", pid)
	}
	todo := []int{pid}
	for len(todo) > 0 {
		p := todo[0]
		todo = append(todo[1:], children[p]...)
		f := stats[p]
		// After the command: state ppid pgrp session tty tpgid flags
		// minflt cminflt majflt cmajflt utime stime cutime cstime.
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		cu, _ := strconv.ParseInt(f[13], 10, 64)
		cs, _ := strconv.ParseInt(f[14], 10, 64)
		user += time.Duration(u+cu) * clockTick
		sys += time.Duration(s+cs) * clockTick
	}
	return user, sys, nil
}

// selfCPU is the generator's own CPU time.
func selfCPU() (user, sys time.Duration) {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// selfCPUs lists the CPUs the generator may run on.
func selfCPUs() []int {
	var set unix.CPUSet
	if unix.SchedGetaffinity(0, &set) != nil {
		return nil
	}
	var cpus []int
	for i := range 1024 {
		if set.IsSet(i) {
			cpus = append(cpus, i)
		}
	}
	return cpus
}

// procCPUs lists the CPUs pid may run on, from /proc/PID/status.
func procCPUs(pid int) ([]int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Cpus_allowed_list:"); ok {
			return ParseCPUs(strings.TrimSpace(v))
		}
	}
	return nil, fmt.Errorf("pid %d: no Cpus_allowed_list", pid)
}

// ParseCPUs parses a CPU list such as "0", "0,2" or "0-3,6".
func ParseCPUs(s string) ([]int, error) {
	var cpus []int
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("bad CPU list %q", s)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a || b >= 1024 {
				return nil, fmt.Errorf("bad CPU list %q", s)
			}
		}
		for c := a; c <= b; c++ {
			if !slices.Contains(cpus, c) {
				cpus = append(cpus, c)
			}
		}
	}
	slices.Sort(cpus)
	return cpus, nil
}

// FormatCPUs writes a CPU list compactly: 0-3,6.
func FormatCPUs(cpus []int) string {
	var parts []string
	for i := 0; i < len(cpus); {
		j := i
		for j+1 < len(cpus) && cpus[j+1] == cpus[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, strconv.Itoa(cpus[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", cpus[i], cpus[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// Pin restricts the generator (every thread of this process) to cpus and
// sizes GOMAXPROCS to match.
func Pin(cpus []int) error {
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	// Threads started later inherit the mask of the thread starting them.
	for _, t := range tasks {
		tid, _ := strconv.Atoi(t.Name())
		if err := unix.SchedSetaffinity(tid, &set); err != nil {
			return fmt.Errorf("pin to CPUs %s: %w", FormatCPUs(cpus), err)
		}
	}
	runtime.GOMAXPROCS(len(cpus))
	return nil
}

// perfUsable reports whether perf can count a server's cycles here; on
// machines without hardware counters (most VMs) it cannot, and the report
// gives CPU time only.
func perfUsable(cfg *Config) bool {
	any := false
	for _, t := range cfg.Targets {
		any = any || len(t.PIDs) > 0
	}
	if !any {
		return false
	}
	if _, err := exec.LookPath("perf"); err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, "perf", "stat", "-x,", "-e", "cycles:u,cycles:k", "--", "true").CombinedOutput()
	u, k, ok := parsePerf(out)
	return ok && u+k > 0
}

// parsePerf reads perf stat -x, output: "count,unit,event,...".
func parsePerf(out []byte) (user, kernel int64, ok bool) {
	found := 0
	for l := range strings.SplitSeq(string(out), "\n") {
		f := strings.Split(l, ",")
		if len(f) < 3 {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		switch {
		case strings.HasPrefix(f[2], "cycles:u"):
			user, found = n, found+1
		case strings.HasPrefix(f[2], "cycles:k"):
			kernel, found = n, found+1
		}
	}
	return user, kernel, found == 2
}

type perfProc struct {
	cmd *exec.Cmd
	out bytes.Buffer
}

func startPerf(pid int) *perfProc {
	p := &perfProc{}
	p.cmd = exec.Command("perf", "stat", "-x,", "-e", "cycles:u,cycles:k", "-p", strconv.Itoa(pid))
	p.cmd.Stderr = &p.out
	if p.cmd.Start() != nil {
		return nil
	}
	return p
}

func (p *perfProc) stop() (user, kernel int64, ok bool) {
	if p == nil {
		return 0, 0, false
	}
	p.cmd.Process.Signal(os.Interrupt)
	p.cmd.Wait()
	return parsePerf(p.out.Bytes())
}

// cpuWindow samples CPU use at both ends of a measured window.
type cpuWindow struct {
	t0, t1             time.Time
	gu0, gs0, gu1, gs1 time.Duration
	su0, ss0, su1, ss1 time.Duration
	srvOK              bool
	srvErr             string
	perf               []*perfProc
	cycU, cycK         int64
	cycOK              bool
	cpus               []int
	shared             []string
}

func (w *cpuWindow) begin(r *run) {
	w.cpus = selfCPUs()
	w.srvOK = len(r.t.PIDs) > 0
	for _, pid := range r.t.PIDs {
		u, s, err := procCPU(pid)
		if err != nil {
			w.srvOK, w.srvErr = false, err.Error()
		}
		w.su0, w.ss0 = w.su0+u, w.ss0+s
		if sc, err := procCPUs(pid); err == nil {
			var both []int
			for _, c := range sc {
				if slices.Contains(w.cpus, c) {
					both = append(both, c)
				}
			}
			if len(both) > 0 {
				w.shared = append(w.shared, fmt.Sprintf("the generator shares CPU %s with server pid %d (%s): pin them apart (taskset, --cpus) for figures that mean something",
					FormatCPUs(both), pid, r.t.Name))
			}
		}
		if r.perf {
			w.perf = append(w.perf, startPerf(pid))
		}
	}
	w.t0 = time.Now()
	w.gu0, w.gs0 = selfCPU()
}

func (w *cpuWindow) finish(r *run) {
	w.t1 = time.Now()
	w.gu1, w.gs1 = selfCPU()
	for _, pid := range r.t.PIDs {
		u, s, err := procCPU(pid)
		if err != nil {
			w.srvOK, w.srvErr = false, err.Error()
		}
		w.su1, w.ss1 = w.su1+u, w.ss1+s
	}
	w.cycOK = len(w.perf) > 0
	for _, p := range w.perf {
		u, k, ok := p.stop()
		w.cycU, w.cycK, w.cycOK = w.cycU+u, w.cycK+k, w.cycOK && ok
	}
}
