// Package app holds the dashboard front end: a page shell, one script and
// one stylesheet, hand-written (the chart is SVG drawn by the script), with
// no build step and nothing fetched from another origin. The dashboards
// package serves them under /app/ to signed-in staff only.
package app

import "embed"

// Files are index.html, app.js and app.css (also the read-only page of a
// shared link, which serves index.html with a few edits); shares.js (the
// staff panel of links).
//
//go:embed index.html app.js app.css shares.js
var Files embed.FS
