package useragent

import "testing"

func FuzzParse(f *testing.F) {
	f.Add("")
	f.Add("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36")
	f.Add("Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1")
	f.Add("Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/28.0 Chrome/130.0.0.0 Mobile Safari/537.36")
	f.Add("Chrome/" + "9999999999999999999999999999999999999999.1")
	f.Add("\xff\xfe\x00Версия/1")
	f.Fuzz(func(t *testing.T, s string) {
		info := Parse(s)
		switch info.Browser {
		case BrowserChrome, BrowserFirefox, BrowserSafari, BrowserEdge, BrowserOpera, BrowserYandex, BrowserSamsung:
		case BrowserOther:
			if info.Version != 0 {
				t.Errorf("Other browser with version %d", info.Version)
			}
		default:
			t.Errorf("browser %q outside the closed set", info.Browser)
		}
		switch info.OS {
		case OSWindows, OSMacOS, OSIOS, OSAndroid, OSLinux, OSChromeOS, OSOther:
		default:
			t.Errorf("OS %q outside the closed set", info.OS)
		}
		switch info.Device {
		case DeviceDesktop, DeviceMobile, DeviceTablet, DeviceOther:
		default:
			t.Errorf("device %q outside the closed set", info.Device)
		}
	})
}
