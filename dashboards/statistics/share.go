package statistics

import (
	"github.com/gofiber/fiber/v2"

	webapp "github.com/sezim-analytics/sezim/web/app"
)

// ShareShell serves the read-only dashboard page of a shared link; its
// script reads the stats API under the link's own path.
func ShareShell(c *fiber.Ctx) error {
	b, err := webapp.Files.ReadFile("share.html")
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Send(b)
}

// ShareAsset serves the shared page's script and stylesheet, which hold
// nothing of any site: no sign-in is needed for them.
func ShareAsset(c *fiber.Ctx) error {
	name := c.Params("name")
	ct := map[string]string{"share.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}[name]
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
