package useragent

import "testing"

func TestParse(t *testing.T) {
	f := func(s string, want Info) {
		t.Helper()
		if got := Parse(s); got != want {
			t.Errorf("Parse(%q)\n got %+v\nwant %+v", s, got, want)
		}
	}
	// Desktop.
	f("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36",
		Info{BrowserChrome, 138, OSWindows, DeviceDesktop})
	f("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/137.0.0.0 Safari/537.36",
		Info{BrowserChrome, 137, OSMacOS, DeviceDesktop})
	f("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/136.0.0.0 Safari/537.36",
		Info{BrowserChrome, 136, OSLinux, DeviceDesktop})
	f("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36",
		Info{BrowserChrome, 138, OSChromeOS, DeviceDesktop})
	f("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0",
		Info{BrowserFirefox, 140, OSWindows, DeviceDesktop})
	f("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:139.0) Gecko/20100101 Firefox/139.0",
		Info{BrowserFirefox, 139, OSLinux, DeviceDesktop})
	f("Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:128.0) Gecko/20100101 Firefox/128.0",
		Info{BrowserFirefox, 128, OSMacOS, DeviceDesktop})
	f("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Safari/605.1.15",
		Info{BrowserSafari, 18, OSMacOS, DeviceDesktop})
	f("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36 Edg/138.0.3351.65",
		Info{BrowserEdge, 138, OSWindows, DeviceDesktop})
	f("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/134.0.0.0 Safari/537.36 OPR/119.0.0.0",
		Info{BrowserOpera, 119, OSWindows, DeviceDesktop})
	f("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/136.0.0.0 YaBrowser/25.6.0.0 Safari/537.36",
		Info{BrowserYandex, 25, OSWindows, DeviceDesktop})
	f("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/134.0.0.0 YaBrowser/25.4.0.0 Yowser/2.5 Safari/537.36",
		Info{BrowserYandex, 25, OSMacOS, DeviceDesktop})
	f("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36 Vivaldi/7.5.3735.44",
		Info{BrowserOther, 0, OSWindows, DeviceDesktop})
	f("Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko",
		Info{BrowserOther, 0, OSWindows, DeviceDesktop})

	// Mobile.
	f("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Mobile Safari/537.36",
		Info{BrowserChrome, 138, OSAndroid, DeviceMobile})
	f("Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1",
		Info{BrowserSafari, 18, OSIOS, DeviceMobile})
	f("Mozilla/5.0 (iPhone; CPU iPhone OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/138.0.7204.119 Mobile/15E148 Safari/604.1",
		Info{BrowserChrome, 138, OSIOS, DeviceMobile})
	f("Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/140.0 Mobile/15E148 Safari/605.1.15",
		Info{BrowserFirefox, 140, OSIOS, DeviceMobile})
	f("Mozilla/5.0 (Android 15; Mobile; rv:140.0) Gecko/140.0 Firefox/140.0",
		Info{BrowserFirefox, 140, OSAndroid, DeviceMobile})
	f("Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/28.0 Chrome/130.0.0.0 Mobile Safari/537.36",
		Info{BrowserSamsung, 28, OSAndroid, DeviceMobile})
	f("Mozilla/5.0 (Linux; arm_64; Android 14; SM-A546E) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/136.0.0.0 YaBrowser/25.6.3.79.00 SA/3 Mobile Safari/537.36",
		Info{BrowserYandex, 25, OSAndroid, DeviceMobile})
	f("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Mobile Safari/537.36 EdgA/138.0.0.0",
		Info{BrowserEdge, 138, OSAndroid, DeviceMobile})
	f("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/137.0.0.0 Mobile Safari/537.36 OPR/89.0.0.0",
		Info{BrowserOpera, 89, OSAndroid, DeviceMobile})

	// Tablet.
	f("Mozilla/5.0 (iPad; CPU OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1",
		Info{BrowserSafari, 18, OSIOS, DeviceTablet})
	f("Mozilla/5.0 (Linux; Android 13; SM-X200) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36",
		Info{BrowserChrome, 138, OSAndroid, DeviceTablet})
	f("Mozilla/5.0 (Android 14; Tablet; rv:140.0) Gecko/140.0 Firefox/140.0",
		Info{BrowserFirefox, 140, OSAndroid, DeviceTablet})
	f("Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/27.0 Chrome/125.0.0.0 Safari/537.36",
		Info{BrowserSamsung, 27, OSAndroid, DeviceTablet})

	// Not browsers, or nothing at all.
	f("", Info{BrowserOther, 0, OSOther, DeviceOther})
	f("curl/8.5.0", Info{BrowserOther, 0, OSOther, DeviceOther})
	f("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", Info{BrowserOther, 0, OSOther, DeviceOther})
	f("Mozilla/5.0 (X11; FreeBSD amd64; rv:128.0) Gecko/20100101 Firefox/128.0", Info{BrowserFirefox, 128, OSOther, DeviceDesktop})
	f("\xff\xfe garbage \x00", Info{BrowserOther, 0, OSOther, DeviceOther})
	f("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/99999999.0.0.0 Safari/537.36",
		Info{BrowserChrome, 0, OSWindows, DeviceDesktop})
}

func TestMajor(t *testing.T) {
	f := func(v string, want uint16) {
		t.Helper()
		if got := major(v); got != want {
			t.Errorf("major(%q) = %d; want %d", v, got, want)
		}
	}
	f("", 0)
	f("138.0.7204.49", 138)
	f("18", 18)
	f("65535.1", 65535)
	f("65536", 0)
	f("x1", 0)
	f("99999999999999999999999", 0)
}

// TestParseConcurrent checks that the lazily built, shared parser is safe under -race,
// including the first build racing with itself.
func TestParseConcurrent(t *testing.T) {
	const ua = "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/28.0 Chrome/130.0.0.0 Mobile Safari/537.36"
	want := Info{BrowserSamsung, 28, OSAndroid, DeviceMobile}
	done := make(chan struct{})
	for range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 500 {
				if got := Parse(ua); got != want {
					t.Errorf("Parse = %+v; want %+v", got, want)
					return
				}
			}
		}()
	}
	for range 8 {
		<-done
	}
}
