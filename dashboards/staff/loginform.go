package staff

import (
	"mime"
	"net/url"

	"github.com/gofiber/fiber/v2"

	"github.com/sezim-analytics/sezim/reqbody"
)

// MaxLoginBytes bounds the sign-in form as sent: a user name and a
// password, URL-encoded, with room to spare.
const MaxLoginBytes = 4 << 10

// signInForm reads the sign-in form's fields. The body is read through
// reqbody with a small limit and no Content-Encoding before anything parses
// it (FormValue would inflate a gzipped body without a bound), and only the
// URL-encoded form a browser sends for the page's form is taken. A refusal
// is a *fiber.Error with the status and a short fixed reason.
func signInForm(c *fiber.Ctx) (user, password string, err error) {
	form, err := ReadForm(c)
	if err != nil {
		return "", "", err
	}
	return form.Get("user"), form.Get("password"), nil
}

// ReadForm reads a staff page's small URL-encoded form (sign-in, first-run
// setup, the privacy console's subject tools) the way signInForm says.
func ReadForm(c *fiber.Ctx) (url.Values, error) {
	body, err := reqbody.Read(c, reqbody.Limit{Max: MaxLoginBytes}, nil)
	if err != nil {
		status, why := reqbody.Refusal(err)
		return nil, fiber.NewError(status, why)
	}
	if mt, _, _ := mime.ParseMediaType(c.Get(fiber.HeaderContentType)); mt != fiber.MIMEApplicationForm {
		return nil, fiber.NewError(fiber.StatusUnsupportedMediaType, "unsupported_content_type")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fiber.NewError(fiber.StatusBadRequest, "bad_form")
	}
	return form, nil
}
