package statistics

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/gofiber/fiber/v2"

	webapp "github.com/sezim-analytics/sezim/web/app"
)

// shareEdits turn the staff's dashboard page into a shared link's: the same
// page and script, so a recipient sees exactly what staff see, marked
// read-only (data-share: app.js then reads the API under the page's own
// path and offers no site picker and no editing), with its assets from
// /share/_/ (the staff's /app/assets/ need a sign-in), and without the
// staff's panel of links, the sign-out form and the link to /app/.
var shareEdits = []struct{ old, new string }{
	{`<body>`, `<body data-share>`},
	{`href="/app/assets/app.css"`, `href="/share/_/app.css"`},
	{`src="/app/assets/app.js"`, `src="/share/_/app.js"`},
	{"<script defer src=\"/app/assets/shares.js\"></script>\n", ""},
	{`<a class="brand" href="/app/">`, `<a class="brand">`},
	{`<label class="field"><span class="sr">Site</span><select id="site" aria-label="Site"></select></label>`, `<b id="share-site"></b>`},
	{`<form method="post" action="/app/logout" class="signout"><button type="submit" id="signout">Sign out</button></form>`, `<span class="note">Shared read-only view</span>`},
}

// sharePage returns index.html as a shared link serves it (see
// shareEdits); an error when the page no longer has what the edits
// replace, so that a change to it cannot leave staff controls on a shared
// page unnoticed.
var sharePage = sync.OnceValues(func() ([]byte, error) {
	b, err := webapp.Files.ReadFile("index.html")
	if err != nil {
		return nil, err
	}
	for _, e := range shareEdits {
		if bytes.Count(b, []byte(e.old)) != 1 {
			return nil, fmt.Errorf("cannot make the shared page (index.html has %q %d times, want once)", e.old, bytes.Count(b, []byte(e.old)))
		}
		b = bytes.Replace(b, []byte(e.old), []byte(e.new), 1)
	}
	return b, nil
})

// ShareShell serves the read-only dashboard page of a shared link: the
// dashboard itself (sharePage), whose script reads the stats API under the
// link's own path.
func ShareShell(c *fiber.Ctx) error {
	b, err := sharePage()
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Send(b)
}

// ShareAsset serves the dashboard's script and stylesheet to shared pages;
// they hold nothing of any site, so no sign-in is needed for them.
func ShareAsset(c *fiber.Ctx) error {
	name := c.Params("name")
	ct := map[string]string{"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}[name]
	if ct == "" {
		return fiber.NewError(fiber.StatusNotFound, "not found")
	}
	b, err := webapp.Files.ReadFile(name)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, ct)
	return c.Send(b)
}
