package collector

import (
	"time"

	"github.com/gofiber/fiber/v2"
)

// Baseline returns a bare Fiber app that answers the pixel with the same GIF
// and the beacon with the same 202, and does nothing else: the load
// generator measures the collector against it, as the physical limit of the
// machine for this web stack.
func Baseline() *fiber.App {
	app := fiber.New(fiber.Config{
		DisableStartupMessage: true,
		ReadBufferSize:        16 << 10,
		ReadTimeout:           10 * time.Second,
		WriteTimeout:          10 * time.Second,
		IdleTimeout:           60 * time.Second,
	})
	app.Get("/p.gif", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, "image/gif")
		c.Set(fiber.HeaderCacheControl, "no-store, max-age=0")
		return c.Send(gif)
	})
	app.Post("/e", func(c *fiber.Ctx) error { return c.SendStatus(fiber.StatusAccepted) })
	return app
}
