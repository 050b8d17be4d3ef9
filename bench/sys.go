package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
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

// procTimes is a sample of a server's CPU time: the total, as precise as
// the kernel tells it, and the user and system clock ticks that split it.
type procTimes struct {
	total        time.Duration
	uTick, sTick int64
}

// split divides the CPU time between two samples into user and system
// time, in the proportion of the ticks.
func split(a, b procTimes) (user, sys time.Duration) {
	tot := b.total - a.total
	du, ds := b.uTick-a.uTick, b.sTick-a.sTick
	if du+ds <= 0 {
		return 0, tot // too short to tell: call it system time
	}
	user = time.Duration(float64(tot) * float64(du) / float64(du+ds))
	return user, tot - user
}

// procCPU samples the CPU time of pid and its descendants, including
// children already reaped (cutime, cstime), so servers that fork a process
// per connection are measured too.
//
// utime and stime in /proc/N/stat are whole clock ticks (10 ms), which a
// process serving one connection among thousands may never reach; so for
// single-threaded processes the total comes from /proc/N/schedstat, in
// nanoseconds, and the ticks only split it. The scan reads every
// /proc/N/stat with raw system calls and one buffer, because for a forking
// server it is the slow part of a sample.
func procCPU(pid int) (procTimes, error) {
	type proc struct {
		ppid, u, s, cu, cs, threads int64
	}
	procs := map[int]proc{}
	children := map[int][]int{}
	dir, err := os.ReadDir("/proc")
	if err != nil {
		return procTimes{}, err
	}
	buf := make([]byte, 1024)
	read := func(path string) []byte {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil // gone meanwhile
		}
		n, err := unix.Read(fd, buf)
		unix.Close(fd)
		if err != nil || n <= 0 {
			return nil
		}
		return buf[:n]
	}
	for _, d := range dir {
		p, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b := read("/proc/" + d.Name() + "/stat")
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		// After the command: state ppid pgrp session tty tpgid flags
		// minflt cminflt majflt cmajflt utime stime cutime cstime
		// priority nice num_threads.
		f := bytes.Fields(b[i+1:])
		if len(f) < 18 {
			continue
		}
		num := func(j int) int64 { v, _ := strconv.ParseInt(string(f[j]), 10, 64); return v }
		pr := proc{ppid: num(1), u: num(11), s: num(12), cu: num(13), cs: num(14), threads: num(17)}
		procs[p] = pr
		children[int(pr.ppid)] = append(children[int(pr.ppid)], p)
	}
	if _, ok := procs[pid]; !ok {
		return procTimes{}, fmt.Errorf("server pid %d: no such process", pid)
	}
	var t procTimes
	for todo := []int{pid}; len(todo) > 0; {
		p := todo[0]
		todo = append(todo[1:], children[p]...)
		pr := procs[p]
		own := time.Duration(pr.u+pr.s) * clockTick
		if pr.threads == 1 {
			if f := bytes.Fields(read("/proc/" + strconv.Itoa(p) + "/schedstat")); len(f) > 0 {
				if ns, err := strconv.ParseInt(string(f[0]), 10, 64); err == nil {
					own = time.Duration(ns)
				}
			}
		}
		t.total += own + time.Duration(pr.cu+pr.cs)*clockTick
		t.uTick += pr.u + pr.cu
		t.sTick += pr.s + pr.cs
	}
	return t, nil
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
	t0, t1             time.Time // generator samples
	st0, st1           time.Time // server samples (mid-scan)
	gu0, gs0, gu1, gs1 time.Duration
	srv0               []procTimes
	su, ss             time.Duration // server CPU over the window
	srvOK              bool
	srvErr             string
	perf               []*perfProc
	cycU, cycK         int64
	cycOK              bool
	cpus               []int
	shared             []string
}

// Server samples can take a while (a forking server has many processes to
// read), so each counts as taken at the middle of its scan, and figures per
// request are rates over the sample interval divided by the measured
// throughput.
func (w *cpuWindow) begin(r *run) {
	w.cpus = selfCPUs()
	w.srvOK = len(r.t.PIDs) > 0
	s0 := time.Now()
	w.srv0 = make([]procTimes, len(r.t.PIDs))
	for i, pid := range r.t.PIDs {
		t, err := procCPU(pid)
		if err != nil {
			w.srvOK, w.srvErr = false, err.Error()
		}
		w.srv0[i] = t
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
	now := time.Now()
	w.st0 = s0.Add(now.Sub(s0) / 2)
	w.t0 = now
	w.gu0, w.gs0 = selfCPU()
}

func (w *cpuWindow) finish(r *run) {
	w.t1 = time.Now()
	w.gu1, w.gs1 = selfCPU()
	for i, pid := range r.t.PIDs {
		t, err := procCPU(pid)
		if err != nil {
			w.srvOK, w.srvErr = false, err.Error()
		}
		u, s := split(w.srv0[i], t)
		w.su, w.ss = w.su+u, w.ss+s
	}
	w.st1 = w.t1.Add(time.Since(w.t1) / 2)
	w.cycOK = len(w.perf) > 0
	for _, p := range w.perf {
		u, k, ok := p.stop()
		w.cycU, w.cycK, w.cycOK = w.cycU+u, w.cycK+k, w.cycOK && ok
	}
}
