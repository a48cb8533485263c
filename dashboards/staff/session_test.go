package staff

import "testing"

func TestSessionsAreBounded(t *testing.T) {
	s := NewSessions(SessionOptions{Max: 10})
	for range 50 {
		if _, err := s.New(t.Context(), "u"); err != nil {
			t.Fatal(err)
		}
	}
	if s.Len() > 10 {
		t.Fatalf("%d sessions held", s.Len())
	}
}
