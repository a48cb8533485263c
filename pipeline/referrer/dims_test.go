package referrer

import (
	"testing"
	"unsafe"
)

func TestScreenClass(t *testing.T) {
	f := func(width int, want string) {
		t.Helper()
		if got := ScreenClass(width); got != want {
			t.Errorf("ScreenClass(%d) = %q; want %q", width, got, want)
		}
	}
	f(-1, "")
	f(0, "")
	f(1, ScreenMobile)
	f(375, ScreenMobile)
	f(575, ScreenMobile)
	f(576, ScreenTablet)
	f(768, ScreenTablet)
	f(991, ScreenTablet)
	f(992, ScreenLaptop)
	f(1366, ScreenLaptop)
	f(1439, ScreenLaptop)
	f(1440, ScreenDesktop)
	f(1920, ScreenDesktop)
	f(2559, ScreenDesktop)
	f(2560, ScreenWide)
	f(7680, ScreenWide)
	f(16384, ScreenWide)
	f(16385, "")
	f(1<<31-1, "")
}

func TestLanguage(t *testing.T) {
	f := func(nav, accept, want string) {
		t.Helper()
		if got := Language(nav, accept); got != want {
			t.Errorf("Language(%q, %q) = %q; want %q", nav, accept, got, want)
		}
	}
	f("ru-RU", "", "ru")
	f("kk-KZ", "ru-RU,ru;q=0.9", "kk")
	f("KK", "", "kk")
	f("en_US", "", "en")
	f("fil-PH", "", "fil")
	f("", "ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7", "ru")
	f("", "en-US;q=0.5,kk;q=0.9,ru;q=0.8", "kk")
	f("", "de;q=0.8, fr;q=0.8", "de") // ties: the earlier entry
	f("", " kk-KZ , ru ", "kk")
	f("", "*", "")
	f("", "*;q=0.1,ru;q=0.05", "ru")
	f("", "ru;q=0", "")
	f("", "ru;q=0.000,en;q=0.001", "en")
	f("", "ru;q=1.0", "ru")
	f("", "ru;q=abc", "ru") // malformed weight: default 1
	f("", "", "")
	f("", ",,,;;;", "")
	// Invalid navigator values fall back to the header.
	f("x-klingon", "ru", "ru")
	f("*", "kk", "kk")
	f("русский", "en", "en")
	f("r1", "", "")
	f("e", "", "")
	f("engl", "", "")
	f("zh-Hant-TW", "", "zh")
	f("\xff\xfe", "", "")
}

// Header values from fasthttp point into buffers that are reused after the request, so
// Language must return memory of its own.
func TestLanguageDoesNotAlias(t *testing.T) {
	f := func(nav, accept string) {
		t.Helper()
		got := Language(nav, accept)
		p := uintptr(unsafe.Pointer(unsafe.StringData(got)))
		for _, in := range []string{nav, accept} {
			start := uintptr(unsafe.Pointer(unsafe.StringData(in)))
			if in != "" && p >= start && p < start+uintptr(len(in)) {
				t.Errorf("Language(%q, %q) = %q aliases its input", nav, accept, got)
			}
		}
	}
	f("ru-RU", "")
	f("", "kk-KZ,ru;q=0.9")
	f("fil", "")
	f("", "haw;q=0.5")
	if allocs := testing.AllocsPerRun(100, func() { _ = Language("ru-RU", "") }); allocs != 0 {
		t.Errorf("Language allocates %v times for a two-letter tag", allocs)
	}
}
