package statistics

import (
	"github.com/gofiber/fiber/v2"

	webapp "github.com/sezim-analytics/sezim/web/app"
)

// AppShell serves the dashboard page; the script fills it from the API.
func AppShell(c *fiber.Ctx) error {
	if c.Path() == "/app" {
		return c.Redirect("/app/", fiber.StatusMovedPermanently)
	}
	b, err := webapp.Files.ReadFile("index.html")
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Send(b)
}

// Asset serves app.js, shares.js and app.css.
func Asset(c *fiber.Ctx) error {
	name := c.Params("name")
	if name != "app.js" && name != "app.css" && name != "shares.js" {
		return fiber.NewError(fiber.StatusNotFound, "not found")
	}
	b, err := webapp.Files.ReadFile(name)
	if err != nil {
		return err
	}
	ct := "text/css; charset=utf-8"
	if name == "app.js" || name == "shares.js" {
		ct = "text/javascript; charset=utf-8"
	}
	c.Set(fiber.HeaderContentType, ct)
	return c.Send(b)
}
