package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unsafe"

	"github.com/sezim-analytics/sezim/event"
	"github.com/sezim-analytics/sezim/pipeline"
)

// A segment file is a header followed by records:
//
//	header (24 bytes): "SZWL", version u16, reserved u16, nonce u64,
//	                   CRC32C of the first 16 bytes u32, reserved u32
//	record:            payload length u32, CRC32C(length ‖ payload) u32,
//	                   payload (see codec.go)
//
// Integers are little endian. The nonce is random per segment: with the
// instance id it names the segment's inserts in ClickHouse, so a replay of
// the same file finds its own earlier inserts and nothing else, whatever
// sequence numbers later files reuse.
//
// Files are named by a sequence number, NNNNNNNNNNNNNNNNNNNN.wal (20
// digits, so names sort in order); a segment found damaged in the middle
// is kept for inspection as .wal.corrupt and never read again.

const (
	headerSize   = 24
	frameSize    = 8
	version      = 3 // 3: records carry event properties; 2: a consented event's identity; 1 and 2 are still read
	segExt       = ".wal"
	corruptExt   = ".corrupt"
	segNameDigit = 20
)

var (
	magic      = [4]byte{'S', 'Z', 'W', 'L'}
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
)

func segName(seq uint64) string { return fmt.Sprintf("%020d%s", seq, segExt) }

// parseSegName returns the sequence of a segment file name.
func parseSegName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, segExt)
	if !ok || len(digits) != segNameDigit {
		return 0, false
	}
	seq, err := strconv.ParseUint(digits, 10, 64)
	return seq, err == nil
}

// appendHeader appends a segment header of format version ver (the
// current one, but for tests of reading older segments).
func appendHeader(b []byte, ver uint16, nonce uint64) []byte {
	start := len(b)
	b = append(b, magic[:]...)
	b = binary.LittleEndian.AppendUint16(b, ver)
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = binary.LittleEndian.AppendUint64(b, nonce)
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:start+16], castagnoli))
	return binary.LittleEndian.AppendUint32(b, 0)
}

// appendFrame reserves a frame header at the end of b and returns b and
// the frame's offset; finishFrame fills it once the payload follows.
func appendFrame(b []byte) ([]byte, int) {
	return append(b, 0, 0, 0, 0, 0, 0, 0, 0), len(b)
}

func finishFrame(b []byte, at int) {
	n := uint32(len(b) - at - frameSize)
	binary.LittleEndian.PutUint32(b[at:], n)
	crc := crc32.Update(0, castagnoli, b[at:at+4])
	crc = crc32.Update(crc, castagnoli, b[at+frameSize:])
	binary.LittleEndian.PutUint32(b[at+4:], crc)
}

// damage says what scan found wrong with a segment.
type damage int

const (
	intact     damage = iota
	tornTail          // the file ends inside a record, or in zeros: a write cut short by a crash
	corrupt           // a bad record with data after it, or a bad header
	tornHeader        // the file is shorter than its header: created, never written
)

// scanResult is what scan learnt about a segment.
type scanResult struct {
	version uint16
	nonce   uint64
	good    int64    // length of the valid prefix, header included
	offsets []uint32 // start of each good record's payload
	damage  damage
	why     string // for the log: what was wrong, never data
}

var errBadHeader = errors.New("bad segment header")

// scan checks a segment's header and records. It never panics on any input
// (see FuzzScan); records after the first bad one are not returned.
func scan(data []byte) scanResult {
	var r scanResult
	if len(data) < headerSize {
		// Either never written, or cut during creation. Zero bytes past
		// a valid magic is still a torn header.
		r.damage, r.why = tornHeader, "file shorter than its header"
		return r
	}
	ver := binary.LittleEndian.Uint16(data[4:])
	if !bytes.Equal(data[:4], magic[:]) || ver < 1 || ver > version ||
		crc32.Checksum(data[:16], castagnoli) != binary.LittleEndian.Uint32(data[16:]) {
		r.damage, r.why = corrupt, errBadHeader.Error()
		return r
	}
	r.version = ver
	r.nonce = binary.LittleEndian.Uint64(data[8:])
	off := headerSize
	for off < len(data) {
		rest := data[off:]
		if len(rest) < frameSize {
			r.damage, r.why = tornTail, "file ends inside a record header"
			break
		}
		n := binary.LittleEndian.Uint32(rest)
		end := int64(frameSize) + int64(n)
		switch {
		case n == 0 || n > maxRecord:
			r.damage, r.why = classify(rest), "bad record length"
		case end > int64(len(rest)):
			r.damage, r.why = tornTail, "file ends inside a record"
		case crc32.Update(crc32.Update(0, castagnoli, rest[:4]), castagnoli, rest[frameSize:end]) != binary.LittleEndian.Uint32(rest[4:]):
			r.damage, r.why = classify(rest[end:]), "bad record checksum"
		case !decodable(rest[frameSize:end], ver):
			r.damage, r.why = corrupt, "record does not decode"
		default:
			r.offsets = append(r.offsets, uint32(off+frameSize))
			off += int(end)
			continue
		}
		break
	}
	r.good = int64(off)
	return r
}

// classify calls damage whose remainder is empty or all zeros a torn tail
// (a crash while the file grew) and anything else corruption.
func classify(rest []byte) damage {
	if allZero(rest) {
		return tornTail
	}
	return corrupt
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func decodable(p []byte, ver uint16) bool {
	var e event.Event
	var id pipeline.Identity
	_, err := decodeEvent(readOnlyString(p), ver, &e, &id)
	return err == nil
}

// readOnlyString views b as a string without copying. Only for buffers
// that are never written again: a segment read from disk.
func readOnlyString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// recordAt returns the payload starting at off in a scanned segment.
func recordAt(data string, off uint32) string {
	h := data[off-frameSize:]
	n := uint32(h[0]) | uint32(h[1])<<8 | uint32(h[2])<<16 | uint32(h[3])<<24
	return data[off : off+n]
}

// repair makes a damaged segment file safe to ship: a torn tail is cut off
// (truncate + fsync); a corrupt segment's good prefix is written to a new
// file under the same name and the original kept as .corrupt. It returns
// the size of the file left under path.
func repair(path string, data []byte, r scanResult) (int64, error) {
	switch r.damage {
	case tornTail:
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return 0, fmt.Errorf("cannot open WAL segment %s to cut its torn tail: %w", path, err)
		}
		defer f.Close()
		if err := f.Truncate(r.good); err != nil {
			return 0, fmt.Errorf("cannot cut the torn tail of WAL segment %s: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			return 0, fmt.Errorf("cannot sync WAL segment %s: %w", path, err)
		}
		return r.good, nil
	case corrupt:
		if err := os.Rename(path, path+corruptExt); err != nil {
			return 0, fmt.Errorf("cannot quarantine WAL segment %s: %w", path, err)
		}
		if len(r.offsets) == 0 {
			return 0, syncDir(filepath.Dir(path))
		}
		tmp := path + ".tmp"
		if err := writeFileSync(tmp, data[:r.good]); err != nil {
			return 0, err
		}
		if err := os.Rename(tmp, path); err != nil {
			return 0, fmt.Errorf("cannot restore the good part of WAL segment %s: %w", path, err)
		}
		return r.good, syncDir(filepath.Dir(path))
	}
	return int64(len(data)), nil
}

func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("cannot create %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("cannot sync %s: %w", path, err)
	}
	return f.Close()
}

// syncDir makes a file's creation, rename or removal in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("cannot open WAL folder %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("cannot sync WAL folder %s: %w", dir, err)
	}
	return nil
}
