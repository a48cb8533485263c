// Package useragent reduces a User-Agent header to the few low-cardinality dimensions the
// stats database keeps: browser family, its major version, OS family and device class.
// The raw header never leaves the pipeline; only these values are stored.
//
// Parsing is done by github.com/medama-io/go-useragent (a trie built once, ~0.5 µs,
// no allocations); this package maps its names onto a small stable set of our own, so a
// library upgrade that renames something cannot split a dashboard series in two.
package useragent

import (
	"strings"
	"sync"

	ua "github.com/medama-io/go-useragent"
	"github.com/medama-io/go-useragent/agents"
)

// Browser families. Everything the library does not name, or names outside this set
// (Vivaldi, Silk, IE, in-app browsers...), is BrowserOther.
const (
	BrowserChrome  = "Chrome"
	BrowserFirefox = "Firefox"
	BrowserSafari  = "Safari"
	BrowserEdge    = "Edge"
	BrowserOpera   = "Opera"
	BrowserYandex  = "Yandex Browser"
	BrowserSamsung = "Samsung Internet"
	BrowserOther   = "Other"
)

// Operating system families; BSDs, consoles and everything unknown are OSOther.
const (
	OSWindows  = "Windows"
	OSMacOS    = "macOS"
	OSIOS      = "iOS"
	OSAndroid  = "Android"
	OSLinux    = "Linux"
	OSChromeOS = "ChromeOS"
	OSOther    = "Other"
)

// Device classes. TVs, consoles, bots and unknown devices are DeviceOther.
const (
	DeviceDesktop = "desktop"
	DeviceMobile  = "mobile"
	DeviceTablet  = "tablet"
	DeviceOther   = "other"
)

// Info is what the stats database keeps of a user agent. Version is the browser's major
// version, 0 when unknown.
type Info struct {
	Browser string
	Version uint16
	OS      string
	Device  string
}

// parser builds the library's trie on first use (a few milliseconds and a few MB), not at
// program start, so binaries and tests that never parse a user agent do not pay for it.
var parser = sync.OnceValue(ua.NewParser)

// Init builds the parser now; call it at startup so the first request does not pay.
func Init() { parser() }

// Parse returns the browser, major version, OS and device class of a User-Agent header.
// It never fails: anything unrecognised maps to the Other values and Version 0.
func Parse(s string) Info {
	if s == "" {
		return Info{Browser: BrowserOther, OS: OSOther, Device: DeviceOther}
	}
	r := parser().Parse(s)
	info := Info{
		Browser: browserName(r.Browser()),
		OS:      osName(r.OS()),
		Device:  deviceClass(r.Device()),
	}
	// Android tablets are told apart from phones by the missing "Mobile" token (the
	// convention Chrome, Samsung Internet and Firefox follow); the library calls both mobile.
	if info.OS == OSAndroid && info.Device == DeviceMobile && !strings.Contains(s, "Mobile") {
		info.Device = DeviceTablet
	}
	if info.Browser != BrowserOther {
		info.Version = major(r.BrowserVersion())
	}
	return info
}

func browserName(b agents.Browser) string {
	switch b {
	case agents.BrowserChrome:
		return BrowserChrome
	case agents.BrowserFirefox:
		return BrowserFirefox
	case agents.BrowserSafari:
		return BrowserSafari
	case agents.BrowserEdge:
		return BrowserEdge
	case agents.BrowserOpera, agents.BrowserOperaMini:
		return BrowserOpera
	case agents.BrowserYandex:
		return BrowserYandex
	case agents.BrowserSamsung:
		return BrowserSamsung
	default:
		return BrowserOther
	}
}

func osName(o agents.OS) string {
	switch o {
	case agents.OSWindows:
		return OSWindows
	case agents.OSMacOS:
		return OSMacOS
	case agents.OSIOS:
		return OSIOS
	case agents.OSAndroid:
		return OSAndroid
	case agents.OSLinux:
		return OSLinux
	case agents.OSChromeOS:
		return OSChromeOS
	default:
		return OSOther
	}
}

func deviceClass(d agents.Device) string {
	switch d {
	case agents.DeviceDesktop:
		return DeviceDesktop
	case agents.DeviceMobile:
		return DeviceMobile
	case agents.DeviceTablet:
		return DeviceTablet
	default:
		return DeviceOther
	}
}

// major parses the leading digits of a version ("138.0.7204.49" → 138). It is done here
// rather than with the library's BrowserVersionMajor, which allocates a slice per call.
// Values that do not fit a uint16 are nonsense in a User-Agent and become 0.
func major(v string) uint16 {
	n := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
		if n > 0xFFFF {
			return 0
		}
	}
	return uint16(n)
}
