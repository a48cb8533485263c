package collector

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/sezim-analytics/sezim/web"
)

// bannerScript serves the consent banner (web/banner.js) the way script
// serves the tracker: gzip when accepted, a strong ETag per representation,
// and an hour of caching, so a new release reaches visitors within the hour.
func (c *Collector) bannerScript(ctx *fiber.Ctx) error {
	ctx.Set(fiber.HeaderContentType, web.BannerContentType)
	ctx.Set(fiber.HeaderCacheControl, "public, max-age=3600")
	ctx.Set(fiber.HeaderVary, fiber.HeaderAcceptEncoding)
	body, etag := web.Banner(), web.BannerETag()
	if strings.Contains(ctx.Get(fiber.HeaderAcceptEncoding), "gzip") {
		body, etag = web.BannerGzip(), web.BannerGzipETag()
		ctx.Set(fiber.HeaderContentEncoding, "gzip")
	}
	ctx.Set(fiber.HeaderETag, etag)
	if ctx.Get(fiber.HeaderIfNoneMatch) == etag {
		c.count("banner", fiber.StatusNotModified)
		return ctx.SendStatus(fiber.StatusNotModified)
	}
	c.count("banner", fiber.StatusOK)
	return ctx.Send(body)
}
