package lambda

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrNoCgroups means this machine cannot give a process a memory and CPU
// limit: no writable cgroup with both controllers (not root, a container
// without delegation).
var ErrNoCgroups = errors.New("no writable memory and cpu cgroup")

// cgroup is one Lambda-shaped execution environment: a memory limit with no
// swap and a CPU share, like the one Lambda gives a function of that memory
// size. It lives below this process's own cgroup, so the limits of whatever
// runs the tests still apply around it.
type cgroup struct {
	v2     bool
	memory string // v1: the memory controller's directory; v2: the cgroup
	cpu    string // v1 only
}

// newCgroup creates the cgroup name with memoryBytes of memory and cpu of a
// core (cgroup v1 memory and cpu controllers, or v2).
func newCgroup(name string, memoryBytes int64, cpu float64) (*cgroup, error) {
	const period = 100000 // µs, the kernel's default CFS period
	quota := int64(cpu * period)
	own, err := ownCgroups()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoCgroups, err)
	}
	if v1mem, ok := own["memory"]; ok && own["cpu"] != "" {
		c := &cgroup{memory: filepath.Join("/sys/fs/cgroup/memory", v1mem, name), cpu: filepath.Join("/sys/fs/cgroup/cpu", own["cpu"], name)}
		err := c.create(map[string]map[string]string{
			c.memory: {"memory.limit_in_bytes": strconv.FormatInt(memoryBytes, 10), "memory.memsw.limit_in_bytes": strconv.FormatInt(memoryBytes, 10)},
			c.cpu:    {"cpu.cfs_period_us": strconv.Itoa(period), "cpu.cfs_quota_us": strconv.FormatInt(quota, 10)},
		})
		return c, err
	}
	if v2, ok := own[""]; ok {
		c := &cgroup{v2: true, memory: filepath.Join("/sys/fs/cgroup", v2, name)}
		// The controllers must be enabled for children; the kernel refuses
		// that in a cgroup that holds processes (this one does).
		if err := os.WriteFile(filepath.Join(filepath.Dir(c.memory), "cgroup.subtree_control"), []byte("+memory +cpu"), 0); err != nil {
			return nil, fmt.Errorf("%w: cgroup v2 cannot delegate memory and cpu below %s: %v", ErrNoCgroups, filepath.Dir(c.memory), err)
		}
		err := c.create(map[string]map[string]string{c.memory: {
			"memory.max": strconv.FormatInt(memoryBytes, 10), "memory.swap.max": "0",
			"cpu.max": fmt.Sprintf("%d %d", quota, period),
		}})
		return c, err
	}
	return nil, fmt.Errorf("%w: neither cgroup v1 memory and cpu nor cgroup v2 in /proc/self/cgroup", ErrNoCgroups)
}

// ownCgroups reads /proc/self/cgroup: the path of this process's cgroup by
// v1 controller, and by "" for v2.
func ownCgroups() (map[string]string, error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	own := map[string]string{}
	scan := bufio.NewScanner(f)
	for scan.Scan() {
		parts := strings.SplitN(scan.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, controller := range strings.Split(parts[1], ",") {
			own[controller] = parts[2]
		}
	}
	return own, scan.Err()
}

// create makes the directories and writes the limits; a file that the
// kernel does not offer (memsw without swap accounting) is skipped.
func (c *cgroup) create(limits map[string]map[string]string) error {
	for dir, files := range limits {
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%w: %v", ErrNoCgroups, err)
		}
		for _, file := range []string{"memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "cpu.cfs_period_us", "cpu.cfs_quota_us", "memory.max", "memory.swap.max", "cpu.max"} {
			value, ok := files[file]
			if !ok {
				continue
			}
			path := filepath.Join(dir, file)
			if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) && strings.Contains(file, "sw") {
				continue
			}
			if err := os.WriteFile(path, []byte(value), 0); err != nil {
				c.remove()
				return fmt.Errorf("%w: %s = %s: %v", ErrNoCgroups, path, value, err)
			}
		}
	}
	return nil
}

// command runs its arguments inside the cgroup: a shell enters it, then
// execs them.
func (c *cgroup) command() []string {
	dirs := []string{c.memory}
	if !c.v2 {
		dirs = append(dirs, c.cpu)
	}
	script := ""
	for _, d := range dirs {
		script += fmt.Sprintf("echo $$ > %q/cgroup.procs && ", d)
	}
	return []string{"/bin/sh", "-c", script + `exec "$@"`, "sh"}
}

// usage is what the kernel counted in the cgroup.
type usage struct {
	peak     int64 // bytes: the highest memory use (page cache included)
	hitLimit int64 // times the use reached the limit (and the kernel reclaimed)
	oomKills int64 // processes the kernel killed for memory
}

func (c *cgroup) usage() (usage, error) {
	var u usage
	var err error
	read := func(file string) int64 {
		if err != nil {
			return 0
		}
		var data []byte
		if data, err = os.ReadFile(filepath.Join(c.memory, file)); err != nil {
			return 0
		}
		var n int64
		n, err = strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
		return n
	}
	field := func(file, name string) int64 {
		if err != nil {
			return 0
		}
		var data []byte
		if data, err = os.ReadFile(filepath.Join(c.memory, file)); err != nil {
			return 0
		}
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, " "); ok && k == name {
				n, _ := strconv.ParseInt(v, 10, 64)
				return n
			}
		}
		return 0
	}
	if c.v2 {
		u.peak = read("memory.peak")
		u.hitLimit = field("memory.events", "max")
		u.oomKills = field("memory.events", "oom_kill")
	} else {
		u.peak = read("memory.max_usage_in_bytes")
		u.hitLimit = read("memory.failcnt")
		u.oomKills = field("memory.oom_control", "oom_kill")
	}
	return u, err
}

// resetPeak starts a new peak (cgroup v2 resets memory.peak only from Linux
// 6.12 on; before, this fails).
func (c *cgroup) resetPeak() error {
	if c.v2 {
		return os.WriteFile(filepath.Join(c.memory, "memory.peak"), []byte("0"), 0)
	}
	return os.WriteFile(filepath.Join(c.memory, "memory.max_usage_in_bytes"), []byte("0"), 0)
}

// remove deletes the cgroup; its processes must have exited.
func (c *cgroup) remove() {
	for _, d := range []string{c.memory, c.cpu} {
		if d != "" {
			_ = os.Remove(d)
		}
	}
}

// bootstrap returns the pid of the bootstrap process in the cgroup, or 0.
func (c *cgroup) bootstrap() int {
	data, err := os.ReadFile(filepath.Join(c.memory, "cgroup.procs"))
	if err != nil {
		return 0
	}
	for _, f := range strings.Fields(string(data)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			continue
		}
		if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && strings.TrimSpace(string(comm)) == "bootstrap" {
			return pid
		}
	}
	return 0
}

// resetRSSPeak starts a new peak resident set size for the process (the
// kernel's clear_refs "5").
func resetRSSPeak(pid int) {
	if pid > 0 {
		_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
	}
}

// rssPeak is the process's peak resident set size in bytes (VmHWM), 0 when
// it is gone.
func rssPeak(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
