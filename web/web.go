// Package web owns the browser code the collector serves: the tracker script
// (s.js) and the consent banner (banner.js). The readable sources are s.js
// and banner.js; the bytes served are s.min.js and banner.min.js, generated
// from them by "go generate ./web" and checked by the package tests, so the
// binary never minifies at start-up and what is tested is what ships.
package web

//go:generate go test -run Test(Tracker|Banner)Minified -update .

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html"
	"net/url"
	"strings"
)

// TrackerContentType is the Content-Type to serve Tracker and TrackerGzip with
// (the latter with "Content-Encoding: gzip").
const TrackerContentType = "text/javascript; charset=utf-8"

//go:embed s.min.js banner.min.js
var assets embed.FS

var (
	tracker      = mustRead("s.min.js")
	trackerGzip  = gzipBest(tracker)
	trackerETag  = etag(tracker)
	trackerGzTag = etag(trackerGzip)

	banner      = mustRead("banner.min.js")
	bannerGzip  = gzipBest(banner)
	bannerETag  = etag(banner)
	bannerGzTag = etag(bannerGzip)
)

// Tracker returns the exact bytes served at /s.js. The slice is shared:
// callers must not modify it.
func Tracker() []byte { return tracker }

// TrackerGzip returns Tracker compressed once with gzip at best compression,
// for clients that accept it. The slice is shared: callers must not modify it.
func TrackerGzip() []byte { return trackerGzip }

// TrackerETag returns the strong ETag (quotes included) of Tracker.
func TrackerETag() string { return trackerETag }

// TrackerGzipETag returns the strong ETag (quotes included) of TrackerGzip;
// it differs from TrackerETag because the two are different representations.
func TrackerGzipETag() string { return trackerGzTag }

// BannerContentType is the Content-Type to serve Banner and BannerGzip with.
const BannerContentType = TrackerContentType

// Banner returns the exact bytes served at /banner.js: the consent banner,
// its styles included. The slice is shared: callers must not modify it.
func Banner() []byte { return banner }

// BannerGzip returns Banner compressed once with gzip at best compression.
// The slice is shared: callers must not modify it.
func BannerGzip() []byte { return bannerGzip }

// BannerETag returns the strong ETag (quotes included) of Banner.
func BannerETag() string { return bannerETag }

// BannerGzipETag returns the strong ETag (quotes included) of BannerGzip.
func BannerGzipETag() string { return bannerGzTag }

// BannerSnippet returns the tag a site puts first in its <head>, before any
// other script: not deferred, so that the Google Consent Mode defaults are in
// the dataLayer before any Google tag runs (banner.md). collector is the
// collector's origin; a trailing slash is ignored.
func BannerSnippet(collector, siteID string) string {
	c := html.EscapeString(strings.TrimRight(collector, "/"))
	return `<script src="` + c + `/banner.js" data-site="` + html.EscapeString(siteID) + `"></script>` + "\n"
}

// EmbedSnippet returns the HTML a site pastes into its pages to be counted:
// the deferred tracker tag and the <noscript> pixel for visitors without
// JavaScript. collector is the collector's origin (scheme and host, e.g.
// "https://collector.example"); a trailing slash is ignored.
func EmbedSnippet(collector, siteID string) string {
	c := html.EscapeString(strings.TrimRight(collector, "/"))
	s := html.EscapeString(siteID)
	return `<script defer src="` + c + `/s.js" data-site="` + s + `"></script>` + "\n" +
		`<noscript><img src="` + c + `/p.gif?s=` + html.EscapeString(url.QueryEscape(siteID)) +
		`" alt="" width="1" height="1" style="position:absolute;left:-9999px"></noscript>` + "\n"
}

func mustRead(name string) []byte {
	b, err := assets.ReadFile(name)
	if err != nil {
		// Unreachable: the file is embedded at build time.
		panic("cannot read embedded " + name + ": " + err.Error())
	}
	return b
}

// gzipBest compresses at best compression: it runs once per process, and the
// smaller body is sent on every page view of every site.
func gzipBest(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // the level is valid
	zw.Write(b)                                              // a bytes.Buffer does not fail
	zw.Close()
	return buf.Bytes()
}

func etag(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}
