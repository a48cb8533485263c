package loadgen

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Memory is a process's resident memory, in bytes.
type Memory struct {
	RSS  uint64 // now
	Peak uint64 // high-water mark
	// Lib is the resident part of the mapped libchdb.so: reported apart,
	// since it is the embedded engine's code, not the collector's data.
	Lib uint64
}

// ReadMemory reads /proc/PID/status and /proc/PID/smaps (Linux).
func ReadMemory(pid int) (Memory, error) {
	var m Memory
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return m, fmt.Errorf("cannot read memory of process %d: %w", pid, err)
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		switch k {
		case "VmRSS":
			m.RSS = kb(v)
		case "VmHWM":
			m.Peak = kb(v)
		}
	}
	f.Close()
	f, err = os.Open(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return m, nil // smaps is optional
	}
	defer f.Close()
	sc = bufio.NewScanner(f)
	inLib := false
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			inLib = strings.HasSuffix(line, "libchdb.so")
			continue
		}
		if inLib && strings.HasPrefix(line, "Rss:") {
			m.Lib += kb(strings.TrimPrefix(line, "Rss:"))
		}
	}
	return m, nil
}

func kb(v string) uint64 {
	n, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
	return n * 1024
}
