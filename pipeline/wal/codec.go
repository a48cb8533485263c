package wal

import (
	"encoding/binary"
	"errors"
	"math"
	"net/netip"
	"time"

	"github.com/sezim-analytics/sezim/event"
	"github.com/sezim-analytics/sezim/pipeline"
)

// An event record's payload is, in this order:
//
//	uvarint  salt day, days since 1970-01-01 (first, so the shipper can
//	         group records by partition without decoding the rest)
//	varint   time, Unix seconds
//	8 bytes  visitor hash, little endian
//	1 byte   kind
//	1 byte   tier
//	uvarint  browser version
//	17 × (uvarint length, bytes): site, name, path, ref host, channel,
//	         utm source, medium, campaign, content, term, country, region,
//	         browser, os, device, screen, language
//
// and, from segment version 2 on, the consented event's identity:
//
//	1 byte   0: none (an anonymous event); 1: an identity follows
//	1 byte   length of the truncated address: 0 (none), 3 (the /24 of an
//	         IPv4 address) or 6 (the /48 of an IPv6 one), then its bytes
//	2 × (uvarint length, bytes): visitor id (the sezim_vid cookie), user id
//
// and, from segment version 3 on, the event's properties:
//
//	uvarint  number of properties, then that many × 2 × (uvarint length,
//	         bytes): key, value
//
// Nothing else: an Event holds no address and no user agent, and of an
// address the identity keeps only the network prefix, so the log cannot
// hold a full address whatever it is given. Segments of version 1 (no
// identity byte) are still read. New fields go at the end under a new
// segment version.

// maxRecord bounds one record's payload. An Event is a few hundred bytes;
// the bound only keeps a corrupt length from allocating or skipping far.
const maxRecord = 64 << 10

var (
	errShort    = errors.New("record ends early")
	errTrailing = errors.New("record has trailing bytes")
	errTooLarge = errors.New("event too large for the write-ahead log")
	errRange    = errors.New("record value out of range")
)

// Lengths of the truncated address in a record: the bytes TruncateIP may
// leave non-zero.
const (
	prefix4 = 3 // IPv4 /24
	prefix6 = 6 // IPv6 /48
)

// appendEvent appends the payload of e and, when id is not nil, its
// identity to b (segment version 2). It does not allocate beyond growing b.
func appendEvent(b []byte, e *event.Event, id *pipeline.Identity) []byte {
	b = binary.AppendUvarint(b, uint64(max(e.SaltDay.Unix(), 0)/86400))
	b = binary.AppendVarint(b, e.Time.Unix())
	b = binary.LittleEndian.AppendUint64(b, e.Visitor)
	b = append(b, byte(e.Kind), byte(e.Tier))
	b = binary.AppendUvarint(b, uint64(e.BrowserVersion))
	for _, s := range [...]string{e.SiteID, e.Name, e.Path, e.RefHost, e.Channel,
		e.UTMSource, e.UTMMedium, e.UTMCampaign, e.UTMContent, e.UTMTerm,
		e.Country, e.Region, e.Browser, e.OS, e.Device, e.Screen, e.Language} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	if id == nil {
		return appendProps(append(b, 0), e)
	}
	b = append(b, 1)
	// Only the prefix is written, so even an address that was not
	// truncated before it got here is truncated in the log.
	switch ip := id.IP.Unmap(); {
	case ip.Is4():
		a := ip.As4()
		b = append(b, prefix4)
		b = append(b, a[:prefix4]...)
	case ip.Is6():
		a := ip.As16()
		b = append(b, prefix6)
		b = append(b, a[:prefix6]...)
	default:
		b = append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(id.VisitorID)))
	b = append(b, id.VisitorID...)
	b = binary.AppendUvarint(b, uint64(len(id.UserID)))
	return appendProps(append(b, id.UserID...), e)
}

// appendProps appends e's properties (segment version 3).
func appendProps(b []byte, e *event.Event) []byte {
	n := min(len(e.PropKeys), len(e.PropValues))
	b = binary.AppendUvarint(b, uint64(n))
	for i := range n {
		b = binary.AppendUvarint(b, uint64(len(e.PropKeys[i])))
		b = append(b, e.PropKeys[i]...)
		b = binary.AppendUvarint(b, uint64(len(e.PropValues[i])))
		b = append(b, e.PropValues[i]...)
	}
	return b
}

// maxProps bounds the properties of one record, as a corrupt count must
// not allocate far; the pipeline keeps far fewer.
const maxProps = 64

// props reads the properties of a version 3 record into e.
func (d *decoder) props(e *event.Event) {
	n := d.uvarint()
	if d.err != nil {
		return
	}
	if n > maxProps {
		d.fail(errRange)
		return
	}
	e.PropKeys, e.PropValues = e.PropKeys[:0], e.PropValues[:0]
	for range n {
		k, v := d.str(), d.str()
		if d.err != nil {
			return
		}
		e.PropKeys = append(e.PropKeys, k)
		e.PropValues = append(e.PropValues, v)
	}
}

// decodeEvent fills e from payload p of a segment of format version ver,
// and id when the record carries an identity, which it reports. Its
// strings are substrings of p, so decoding allocates nothing: the shipper
// turns a whole segment into one string and decodes every record from it.
func decodeEvent(p string, ver uint16, e *event.Event, id *pipeline.Identity) (bool, error) {
	d := decoder{p: p}
	day := d.uvarint()
	sec := d.varint()
	if len(d.p) < 10 {
		return false, errShort
	}
	var v uint64
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(d.p[i])
	}
	e.Visitor = v
	e.Kind, e.Tier = event.Kind(d.p[8]), event.Tier(d.p[9])
	d.p = d.p[10:]
	bv := d.uvarint()
	for _, s := range [...]*string{&e.SiteID, &e.Name, &e.Path, &e.RefHost, &e.Channel,
		&e.UTMSource, &e.UTMMedium, &e.UTMCampaign, &e.UTMContent, &e.UTMTerm,
		&e.Country, &e.Region, &e.Browser, &e.OS, &e.Device, &e.Screen, &e.Language} {
		*s = d.str()
	}
	has := false
	if ver >= 2 {
		has = d.identity(id)
	}
	e.PropKeys, e.PropValues = e.PropKeys[:0], e.PropValues[:0]
	if ver >= 3 {
		d.props(e)
	}
	if d.err != nil {
		return false, d.err
	}
	if len(d.p) != 0 {
		return false, errTrailing
	}
	// 10^6 days is year 4707; 2^40 seconds is year 36812: both far beyond
	// any real event, and within what time.Time represents.
	if day > 1e6 || bv > math.MaxUint16 || sec < 0 || sec > 1<<40 {
		return false, errRange
	}
	e.SaltDay = time.Unix(int64(day)*86400, 0).UTC()
	e.Time = time.Unix(sec, 0).UTC()
	e.BrowserVersion = uint16(bv)
	return has, nil
}

// identity reads the identity part of a version 2 record into id and
// reports whether there is one.
func (d *decoder) identity(id *pipeline.Identity) bool {
	flag := d.byte()
	if flag == 0 || d.err != nil {
		return false
	}
	if flag != 1 {
		d.fail(errRange)
		return false
	}
	switch n := d.byte(); {
	case d.err != nil:
		return false
	case n == 0:
		id.IP = netip.Addr{}
	case n == prefix4 && len(d.p) >= prefix4:
		id.IP = netip.AddrFrom4([4]byte{d.p[0], d.p[1], d.p[2]})
		d.p = d.p[prefix4:]
	case n == prefix6 && len(d.p) >= prefix6:
		var a [16]byte
		copy(a[:], d.p[:prefix6])
		id.IP = netip.AddrFrom16(a)
		d.p = d.p[prefix6:]
	case n == prefix4 || n == prefix6:
		d.fail(errShort)
	default:
		d.fail(errRange)
	}
	id.VisitorID = d.str()
	id.UserID = d.str()
	return d.err == nil
}

// saltDayOf reads only the salt day of payload p.
func saltDayOf(p string) (uint32, error) {
	d := decoder{p: p}
	day := d.uvarint()
	if d.err != nil {
		return 0, d.err
	}
	if day > 1e6 {
		return 0, errRange
	}
	return uint32(day), nil
}

// decoder reads a payload front to back, keeping the first error.
type decoder struct {
	p   string
	err error
}

func (d *decoder) uvarint() uint64 {
	var x uint64
	var s uint
	for i := 0; i < len(d.p) && i < binary.MaxVarintLen64; i++ {
		c := d.p[i]
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				break
			}
			d.p = d.p[i+1:]
			return x | uint64(c)<<s
		}
		x |= uint64(c&0x7f) << s
		s += 7
	}
	if d.err == nil {
		d.err = errShort
	}
	d.p = ""
	return 0
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.p = ""
}

func (d *decoder) byte() byte {
	if len(d.p) == 0 {
		d.fail(errShort)
		return 0
	}
	c := d.p[0]
	d.p = d.p[1:]
	return c
}

func (d *decoder) varint() int64 {
	u := d.uvarint()
	x := int64(u >> 1)
	if u&1 != 0 {
		x = ^x
	}
	return x
}

func (d *decoder) str() string {
	n := d.uvarint()
	if n > uint64(len(d.p)) {
		if d.err == nil {
			d.err = errShort
		}
		d.p = ""
		return ""
	}
	s := d.p[:n]
	d.p = d.p[n:]
	return s
}
