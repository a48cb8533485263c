package referrer

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzParsePage(f *testing.F) {
	f.Add("https://www.sez.im/psychologists/?utm_source=Google&utm_medium=cpc&gclid=x#top", 16)
	f.Add("https://sez.im/%D0%BF%D1%81%D0%B8%D1%85%D0%BE%D0%BB%D0%BE%D0%B3", 0)
	f.Add("http://[2001:db8::1]:8080/a/", 5)
	f.Add("javascript:alert(1)", 0)
	f.Add("https://u:p@h:1/%zz%FF?utm_term=%E2%82", 3)
	f.Fuzz(func(t *testing.T, raw string, maxPath int) {
		host, path, utm, ok := ParsePage(raw, maxPath)
		if !ok {
			if host != "" || path != "" || utm != (UTM{}) {
				t.Fatalf("ParsePage(%q) rejected but returned %q %q %+v", raw, host, path, utm)
			}
			return
		}
		limit := maxPath
		if limit <= 0 {
			limit = DefaultMaxPath
		}
		switch {
		case host == "" || strings.ContainsAny(host, "/?#@ []") || host != strings.ToLower(host):
			t.Fatalf("ParsePage(%q): bad host %q", raw, host)
		case !strings.HasPrefix(path, "/") || len(path) > max(limit, 1) || !utf8.ValidString(path):
			t.Fatalf("ParsePage(%q, %d): bad path %q", raw, maxPath, path)
		case path != "/" && strings.HasSuffix(path, "/"):
			t.Fatalf("ParsePage(%q): trailing slash kept in %q", raw, path)
		}
		for _, v := range []string{utm.Source, utm.Medium, utm.Campaign, utm.Content, utm.Term} {
			if !utf8.ValidString(v) {
				t.Fatalf("ParsePage(%q): bad UTM value %q", raw, v)
			}
		}
	})
}

func FuzzClassify(f *testing.F) {
	f.Add("https://www.google.kz/", "sez.im", "", "", false)
	f.Add("https://sez.im/a", "sez.im", "vk", "", false)
	f.Add("android-app://org.telegram.messenger/", "sez.im", "", "", false)
	f.Add("", "sez.im", "mailchimp", "email", false)
	f.Add("https://x.com:99999/", "x.com", "", "cpc", true)
	channels := map[string]bool{
		ChannelDirect: true, ChannelInternal: true, ChannelSearch: true, ChannelSocial: true,
		ChannelEmail: true, ChannelPaid: true, ChannelReferral: true,
	}
	f.Fuzz(func(t *testing.T, ref, page, source, medium string, paid bool) {
		utm := UTM{Source: source, Medium: medium, PaidClick: paid}
		host, ch := Classify(ref, page, utm)
		if !channels[ch] {
			t.Fatalf("Classify(%q, %q, %+v): channel %q outside the closed set", ref, page, utm, ch)
		}
		if host != "" && (host == page || strings.ContainsAny(host, "/?#@ []") || host != strings.ToLower(host)) {
			t.Fatalf("Classify(%q, %q): bad refHost %q", ref, page, host)
		}
		if ch == ChannelInternal && host != "" {
			t.Fatalf("Classify(%q, %q): internal with refHost %q", ref, page, host)
		}
		if ch == ChannelDirect && (host != "" || utm != (UTM{})) {
			t.Fatalf("Classify(%q, %q, %+v): direct with a referrer or tags", ref, page, utm)
		}
	})
}
