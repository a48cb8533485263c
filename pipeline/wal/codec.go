package wal

import (
	"encoding/binary"
	"errors"
	"math"
	"time"

	"github.com/sezim-analytics/sezim/event"
)

// An event record's payload (format version 1) is, in this order:
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
// Nothing else: an Event holds no address and no user agent, so neither can
// the log. New fields go at the end under a new segment version.

// maxRecord bounds one record's payload. An Event is a few hundred bytes;
// the bound only keeps a corrupt length from allocating or skipping far.
const maxRecord = 64 << 10

var (
	errShort    = errors.New("record ends early")
	errTrailing = errors.New("record has trailing bytes")
	errTooLarge = errors.New("event too large for the write-ahead log")
	errRange    = errors.New("record value out of range")
)

// appendEvent appends e's payload to b. It does not allocate beyond
// growing b.
func appendEvent(b []byte, e *event.Event) []byte {
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
	return b
}

// decodeEvent fills e from payload p. Its strings are substrings of p, so
// decoding allocates nothing: the shipper turns a whole segment into one
// string and decodes every record from it.
func decodeEvent(p string, e *event.Event) error {
	d := decoder{p: p}
	day := d.uvarint()
	sec := d.varint()
	if len(d.p) < 10 {
		return errShort
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
	if d.err != nil {
		return d.err
	}
	if len(d.p) != 0 {
		return errTrailing
	}
	// 10^6 days is year 4707; 2^40 seconds is year 36812: both far beyond
	// any real event, and within what time.Time represents.
	if day > 1e6 || bv > math.MaxUint16 || sec < 0 || sec > 1<<40 {
		return errRange
	}
	e.SaltDay = time.Unix(int64(day)*86400, 0).UTC()
	e.Time = time.Unix(sec, 0).UTC()
	e.BrowserVersion = uint16(bv)
	return nil
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
