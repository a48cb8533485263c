package staff

import (
	"strings"
	"testing"
)

// testHash makes hashing fast in tests; testPassword is long enough.
var testHash = HashParams{MemoryKiB: 64, Time: 1, Threads: 1}

const testPassword = "correct horse battery"

func TestPasswordHash(t *testing.T) {
	f := func(password, try string, want bool) {
		t.Helper()
		h, err := HashPassword(password, testHash)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
			t.Fatalf("hash %q", h)
		}
		got, err := CheckPassword(h, try)
		if err != nil || got != want {
			t.Fatalf("check(%q, %q) = %v, %v", password, try, got, err)
		}
	}
	f(testPassword, testPassword, true)
	f(testPassword, testPassword+" ", false)
	f("пароль-на-русском", "пароль-на-русском", true)
	if _, err := HashPassword("short", testHash); err != ErrWeakPassword {
		t.Fatalf("short password: %v", err)
	}
	for _, bad := range []string{"", "$argon2id$v=19$m=999999999,t=1,p=1$c2FsdA$aGFzaA", "$bcrypt$x", "$argon2id$v=19$m=64,t=1,p=1$!!$!!"} {
		if ok, err := CheckPassword(bad, "x"); ok || err == nil {
			t.Fatalf("malformed %q accepted", bad)
		}
	}
}
