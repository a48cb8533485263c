package staff

import "html/template"

// formLayout is the page around the small forms staff meet before the
// dashboard loads (sign-in, first-run setup): one stylesheet, so that the
// pages look alike and a change of look is made once. A page defines
// "title" and "body" (see formPage).
const formLayout = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{template "title" .}} · Sezim Analytics</title>
<link rel="icon" href="data:,">
<style>
:root { color-scheme: light; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2430; }
body { margin: 0; min-height: 100vh; display: grid; place-items: center; background: #f4f6fa; }
main { width: min(24rem, 100% - 2rem); background: #fff; border-radius: 12px; padding: 2rem; box-shadow: 0 2px 12px rgba(20,30,60,.08); }
h1 { font-size: 1.25rem; margin: 0 0 1rem; }
h1 span { color: #3b5bdb; }
p { color: #56607a; font-size: .9rem; margin: 0 0 1rem; }
label { display: block; font-size: .875rem; color: #56607a; margin-top: 1rem; }
input { width: 100%; box-sizing: border-box; font: inherit; padding: .55rem .7rem; border: 1px solid #cfd5e2; border-radius: 8px; margin-top: .25rem; }
input:focus { outline: 2px solid #3b5bdb; border-color: transparent; }
button { margin-top: 1.5rem; width: 100%; font: inherit; font-weight: 600; padding: .6rem; border: 0; border-radius: 8px; background: #3b5bdb; color: #fff; cursor: pointer; }
p.error { background: #fff0f0; color: #a61e1e; border-radius: 8px; padding: .5rem .75rem; font-size: .875rem; }
</style>
</head>
<body>
<main>
<h1><span>Sezim</span> Analytics</h1>
{{template "body" .}}
</main>
</body>
</html>
`

// formPage parses one form page into the shared layout: title is the
// page's title, body its content inside <main> under the heading.
func formPage(name, title, body string) *template.Template {
	t := template.Must(template.New(name).Parse(formLayout))
	template.Must(t.New("title").Parse(title))
	template.Must(t.New("body").Parse(body))
	return t
}
